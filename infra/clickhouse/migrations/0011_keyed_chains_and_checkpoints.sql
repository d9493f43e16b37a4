-- Keyed hash chains and signed checkpoints (docs/decisions/0009). Every row names the ledger key
-- whose HMAC links it (empty: a legacy SHA-256 link written before keyed chains). chain_checkpoints
-- holds what the ledger-sink signed: each chain's length and head hash when it wrote the
-- checkpoint, the digest of that set of chains, and the link to the same writer's previous one.

ALTER TABLE {db}.agent_events ADD COLUMN IF NOT EXISTS hash_key_id LowCardinality(String) DEFAULT '' AFTER hash;

ALTER TABLE {db}.policy_decisions ADD COLUMN IF NOT EXISTS hash_key_id LowCardinality(String) DEFAULT '' AFTER hash;

ALTER TABLE {db}.risk_scores ADD COLUMN IF NOT EXISTS hash_key_id LowCardinality(String) DEFAULT '' AFTER hash;

ALTER TABLE {db}.approvals ADD COLUMN IF NOT EXISTS hash_key_id LowCardinality(String) DEFAULT '' AFTER hash;

ALTER TABLE {db}.cost_rollups ADD COLUMN IF NOT EXISTS hash_key_id LowCardinality(String) DEFAULT '' AFTER hash;

ALTER TABLE {db}.alerts ADD COLUMN IF NOT EXISTS hash_key_id LowCardinality(String) DEFAULT '' AFTER hash;

ALTER TABLE {db}.dead_letters ADD COLUMN IF NOT EXISTS hash_key_id LowCardinality(String) DEFAULT '' AFTER hash;

ALTER TABLE {db}.control_changes ADD COLUMN IF NOT EXISTS hash_key_id LowCardinality(String) DEFAULT '' AFTER hash;

ALTER TABLE {db}.proxy_calls ADD COLUMN IF NOT EXISTS hash_key_id LowCardinality(String) DEFAULT '' AFTER hash;

CREATE TABLE IF NOT EXISTS {db}.chain_checkpoints
(
    checkpoint_id String,
    writer String,
    writer_seq UInt64,
    at DateTime64(3, 'UTC'),
    entries UInt64,
    tables Array(LowCardinality(String)),
    chain_keys Array(String),
    lengths Array(UInt64),
    heads Array(String),
    set_digest String,
    prev_signature String,
    key_id LowCardinality(String),
    signature String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (writer, writer_seq);
