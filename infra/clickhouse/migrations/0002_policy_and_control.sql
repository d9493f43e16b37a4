-- Stop-ship marking on decisions, and the ledger of kill-switch changes (who, when, why).

ALTER TABLE {db}.policy_decisions ADD COLUMN IF NOT EXISTS stop_ship Bool DEFAULT false AFTER policy_version;

CREATE TABLE IF NOT EXISTS {db}.control_changes
(
    kind LowCardinality(String),
    scope String,
    active Bool,
    actor String,
    reason String,
    at DateTime64(3, 'UTC'),
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
ORDER BY (scope, at)
TTL toDateTime(at) + INTERVAL 7 YEAR;
