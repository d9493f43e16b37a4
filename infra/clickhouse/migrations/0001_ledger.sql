-- Ledger tables (database {db}); the analysts' contract. Columns may be added, never renamed or dropped.
-- Every table: record_id (the record's idempotency key), the source position it was read from,
-- its hash-chain link (chain_key = the Kafka key, chain_seq from 1, prev_hash -> hash), ingested_at.
-- Append-only MergeTree tables partitioned by month, with TTL retention set by the sink at start.

CREATE TABLE IF NOT EXISTS {db}.agent_events
(
    event_id String,
    event_type LowCardinality(String),
    occurred_at DateTime64(3, 'UTC'),
    tenant_id LowCardinality(String),
    workflow LowCardinality(String),
    run_id String,
    agent_id String,
    user_id Nullable(String),
    step UInt32,
    workflow_version Nullable(String),
    prompt_version Nullable(String),
    model LowCardinality(Nullable(String)),
    provider LowCardinality(Nullable(String)),
    input_tokens Nullable(Int64),
    output_tokens Nullable(Int64),
    cached_tokens Nullable(Int64),
    latency_ms Nullable(Float64),
    cost_usd Nullable(Float64),
    call_id Nullable(String),
    tool LowCardinality(Nullable(String)),
    action LowCardinality(Nullable(String)),
    resource Nullable(String),
    params Nullable(String),
    status LowCardinality(Nullable(String)),
    error_code Nullable(String),
    output Nullable(String),
    state_change Nullable(String),
    redactions UInt32,
    redaction_kinds Array(LowCardinality(String)),
    record_id String,
    src_topic LowCardinality(String),
    src_partition Int32,
    src_offset Int64,
    chain_key String,
    chain_seq UInt64,
    prev_hash String,
    hash String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_record_id record_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_chain_key chain_key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, workflow, occurred_at, run_id)
TTL toDateTime(occurred_at) + INTERVAL 7 YEAR;

CREATE TABLE IF NOT EXISTS {db}.policy_decisions
(
    decision_id String,
    event_id String,
    call_id String,
    run_id String,
    tenant_id LowCardinality(String),
    decided_at DateTime64(3, 'UTC'),
    decision LowCardinality(String),
    policy_ids Array(String),
    reason String,
    policy_version String,
    record_id String,
    src_topic LowCardinality(String),
    src_partition Int32,
    src_offset Int64,
    chain_key String,
    chain_seq UInt64,
    prev_hash String,
    hash String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_record_id record_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_chain_key chain_key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(decided_at)
ORDER BY (tenant_id, decided_at, run_id)
TTL toDateTime(decided_at) + INTERVAL 7 YEAR;

CREATE TABLE IF NOT EXISTS {db}.risk_scores
(
    event_id String,
    run_id String,
    score Float64,
    factors Map(String, Float64),
    route_to_human Bool,
    record_id String,
    src_topic LowCardinality(String),
    src_partition Int32,
    src_offset Int64,
    chain_key String,
    chain_seq UInt64,
    prev_hash String,
    hash String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_record_id record_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_chain_key chain_key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (run_id, ingested_at)
TTL toDateTime(ingested_at) + INTERVAL 7 YEAR;

CREATE TABLE IF NOT EXISTS {db}.approvals
(
    approval_id String,
    call_id String,
    run_id String,
    approver String,
    decided_at DateTime64(3, 'UTC'),
    decision LowCardinality(String),
    rationale String,
    record_id String,
    src_topic LowCardinality(String),
    src_partition Int32,
    src_offset Int64,
    chain_key String,
    chain_seq UInt64,
    prev_hash String,
    hash String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_record_id record_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_chain_key chain_key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(decided_at)
ORDER BY (decided_at, run_id)
TTL toDateTime(decided_at) + INTERVAL 7 YEAR;

CREATE TABLE IF NOT EXISTS {db}.cost_rollups
(
    window_start DateTime64(3, 'UTC'),
    window_end DateTime64(3, 'UTC'),
    tenant_id LowCardinality(String),
    workflow LowCardinality(String),
    model LowCardinality(String),
    input_tokens Int64,
    output_tokens Int64,
    cost_usd Float64,
    runs_completed Int64,
    runs_succeeded Int64,
    record_id String,
    src_topic LowCardinality(String),
    src_partition Int32,
    src_offset Int64,
    chain_key String,
    chain_seq UInt64,
    prev_hash String,
    hash String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_record_id record_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_chain_key chain_key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant_id, workflow, model, window_start)
TTL toDateTime(window_start) + INTERVAL 7 YEAR;

CREATE TABLE IF NOT EXISTS {db}.alerts
(
    alert_id String,
    kind LowCardinality(String),
    severity LowCardinality(String),
    tenant_id LowCardinality(String),
    workflow LowCardinality(String),
    run_id Nullable(String),
    tool Nullable(String),
    summary String,
    first_seen DateTime64(3, 'UTC'),
    last_seen DateTime64(3, 'UTC'),
    count Int64,
    record_id String,
    src_topic LowCardinality(String),
    src_partition Int32,
    src_offset Int64,
    chain_key String,
    chain_seq UInt64,
    prev_hash String,
    hash String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_record_id record_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_chain_key chain_key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(last_seen)
ORDER BY (tenant_id, kind, last_seen)
TTL toDateTime(last_seen) + INTERVAL 7 YEAR;

CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    dead_letter_id String,
    source_topic LowCardinality(String),
    source_partition Int32,
    source_offset Int64,
    source_key Nullable(String),
    error_kind LowCardinality(String),
    reason String,
    raw String COMMENT 'the undecodable bytes, base64',
    failed_at DateTime64(3, 'UTC'),
    service LowCardinality(String),
    record_id String,
    src_topic LowCardinality(String),
    src_partition Int32,
    src_offset Int64,
    chain_key String,
    chain_seq UInt64,
    prev_hash String,
    hash String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_record_id record_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_chain_key chain_key TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(failed_at)
ORDER BY (source_topic, failed_at)
TTL toDateTime(failed_at) + INTERVAL 7 YEAR;
