-- Eval runs and their per-item results (issue 12): `warden eval run --emit` publishes them on eval.runs and
-- eval.results and the ledger-sink lands them like every other record (hash-chained per eval run). The rollout
-- gate asks eval_runs for a passing eval of a candidate release; dashboards and the report read both.

CREATE TABLE IF NOT EXISTS {db}.eval_runs
(
    eval_run_id String,
    started_at DateTime64(3, 'UTC'),
    completed_at DateTime64(3, 'UTC'),
    dataset String,
    dataset_sha256 String,
    agent String,
    tenant_id LowCardinality(String),
    release LowCardinality(Nullable(String)),
    model LowCardinality(String),
    prompt_version LowCardinality(String),
    tool_schema_hash String,
    policy_bundle_hash String,
    tags Array(String),
    workflows Array(LowCardinality(String)),
    items UInt32,
    passed UInt32,
    success_rate Nullable(Float64),
    success_rate_ci95_low Float64,
    success_rate_ci95_high Float64,
    violation_rate Nullable(Float64),
    cost_per_task_usd Nullable(Float64),
    latency_p95_s Nullable(Float64),
    met_targets Bool,
    missed_targets Array(String),
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
PARTITION BY toYYYYMM(completed_at)
ORDER BY (completed_at, eval_run_id)
TTL toDateTime(completed_at) + INTERVAL 7 YEAR;

CREATE TABLE IF NOT EXISTS {db}.eval_results
(
    result_id String,
    eval_run_id String,
    item_id String,
    workflow LowCardinality(String),
    run_id String,
    release LowCardinality(Nullable(String)),
    completed_at DateTime64(3, 'UTC'),
    passed Bool,
    status LowCardinality(Nullable(String)),
    reasons Array(String),
    violations Array(String),
    cost_usd Float64,
    steps UInt32,
    latency_s Nullable(Float64),
    tags Array(String),
    redactions UInt32,
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
PARTITION BY toYYYYMM(completed_at)
ORDER BY (eval_run_id, workflow, item_id)
TTL toDateTime(completed_at) + INTERVAL 7 YEAR;
