-- Rollouts (issue 11): every gate decision of a rollout (topic rollout.decisions), and the rollout
-- records on the control topic (a stage, an operator's command) as JSON beside the switch columns.
-- Switch rows written before have null there, and their hashes stay the same.

CREATE TABLE IF NOT EXISTS {db}.rollout_decisions
(
    decision_id String,
    rollout_id String,
    workflow LowCardinality(String),
    baseline LowCardinality(String),
    candidate LowCardinality(String),
    step UInt8,
    next_step UInt8,
    decision LowCardinality(String),
    status LowCardinality(String),
    reason String,
    failed_gates Array(LowCardinality(String)),
    metrics String,
    baseline_metrics String,
    candidate_runs UInt64,
    candidate_completed UInt64,
    baseline_runs UInt64,
    baseline_completed UInt64,
    window_start DateTime64(3, 'UTC'),
    decided_at DateTime64(3, 'UTC'),
    manual Bool,
    actor Nullable(String),
    rationale Nullable(String),
    approval_call_id Nullable(String),
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
ORDER BY (workflow, decided_at)
TTL toDateTime(decided_at) + INTERVAL 7 YEAR;

ALTER TABLE {db}.control_changes
    ADD COLUMN IF NOT EXISTS rollout Nullable(String) AFTER at,
    ADD COLUMN IF NOT EXISTS rollout_command Nullable(String) AFTER rollout;
