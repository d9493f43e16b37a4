-- Every `warden ledger verify` run and its result, so dashboards and the report can show when the
-- ledger was last checked and what was found. Written by the verify command itself (not a topic's
-- record: verify runs with the stack stopped), so the table has no hash-chain columns.

CREATE TABLE IF NOT EXISTS {db}.ledger_verifications
(
    verification_id String,
    started_at DateTime64(3, 'UTC'),
    finished_at DateTime64(3, 'UTC'),
    ok Bool,
    records UInt64,
    chains UInt64,
    problems UInt32,
    details Array(String) COMMENT 'the first problems found, as verify printed them',
    actor String,
    ledger String,
    warden_version LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(finished_at)
ORDER BY (finished_at, verification_id);
