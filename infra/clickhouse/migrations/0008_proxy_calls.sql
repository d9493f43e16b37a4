-- The tool proxy's own ledger: every proxied call (allowed, refused or failed, with the reason) and
-- every token issued or revoked (issue 6). Topic proxy.calls, one row per record.

CREATE TABLE IF NOT EXISTS {db}.proxy_calls
(
    proxy_call_id String,
    kind LowCardinality(String),
    at DateTime64(3, 'UTC'),
    call_id Nullable(String),
    event_id Nullable(String),
    tenant_id LowCardinality(Nullable(String)),
    workflow LowCardinality(Nullable(String)),
    run_id Nullable(String),
    agent_id Nullable(String),
    tool LowCardinality(String),
    action LowCardinality(String),
    token_id Nullable(String),
    key_id Nullable(String),
    outcome LowCardinality(String),
    status_code UInt16,
    reason_code LowCardinality(String),
    reason String,
    decision LowCardinality(Nullable(String)),
    policy_ids Array(String),
    policy_version Nullable(String),
    upstream_called Bool,
    upstream_status Nullable(Int32),
    latency_ms Float64,
    upstream_latency_ms Nullable(Float64),
    redactions UInt32,
    redaction_kinds Array(LowCardinality(String)),
    actor Nullable(String),
    replica String,
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
PARTITION BY toYYYYMM(at)
ORDER BY (tool, action, at)
TTL toDateTime(at) + INTERVAL 7 YEAR;
