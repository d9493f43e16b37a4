-- Fields added to the records of risk.scores, cost.rollups, alerts and to LlmCall (route).
-- Every one has a default, so rows written before keep their meaning and their hashes.

ALTER TABLE {db}.agent_events ADD COLUMN IF NOT EXISTS route LowCardinality(Nullable(String)) AFTER state_change;

ALTER TABLE {db}.risk_scores
    ADD COLUMN IF NOT EXISTS tenant_id LowCardinality(String) DEFAULT '' AFTER route_to_human,
    ADD COLUMN IF NOT EXISTS workflow LowCardinality(String) DEFAULT '' AFTER tenant_id,
    ADD COLUMN IF NOT EXISTS call_id Nullable(String) AFTER workflow,
    ADD COLUMN IF NOT EXISTS subject LowCardinality(String) DEFAULT 'tool_call' AFTER call_id,
    ADD COLUMN IF NOT EXISTS contributions Map(String, Float64) AFTER subject,
    ADD COLUMN IF NOT EXISTS threshold Nullable(Float64) AFTER contributions,
    ADD COLUMN IF NOT EXISTS reason String DEFAULT '' AFTER threshold,
    ADD COLUMN IF NOT EXISTS weights_version LowCardinality(String) DEFAULT '' AFTER reason,
    ADD COLUMN IF NOT EXISTS scored_at Nullable(DateTime64(3, 'UTC')) AFTER weights_version;

ALTER TABLE {db}.cost_rollups
    ADD COLUMN IF NOT EXISTS rollup_id String DEFAULT '' AFTER runs_succeeded,
    ADD COLUMN IF NOT EXISTS window LowCardinality(String) DEFAULT '1m' AFTER rollup_id,
    ADD COLUMN IF NOT EXISTS route LowCardinality(String) DEFAULT '' AFTER window,
    ADD COLUMN IF NOT EXISTS cached_tokens Int64 DEFAULT 0 AFTER route,
    ADD COLUMN IF NOT EXISTS calls Int64 DEFAULT 0 AFTER cached_tokens,
    ADD COLUMN IF NOT EXISTS unpriced_calls Int64 DEFAULT 0 AFTER calls,
    ADD COLUMN IF NOT EXISTS price_version LowCardinality(String) DEFAULT '' AFTER unpriced_calls,
    ADD COLUMN IF NOT EXISTS runs_over_ceiling Int64 DEFAULT 0 AFTER price_version;

ALTER TABLE {db}.alerts
    ADD COLUMN IF NOT EXISTS rule LowCardinality(String) DEFAULT '' AFTER count,
    ADD COLUMN IF NOT EXISTS fingerprint String DEFAULT '' AFTER rule,
    ADD COLUMN IF NOT EXISTS status LowCardinality(String) DEFAULT 'firing' AFTER fingerprint,
    ADD COLUMN IF NOT EXISTS value Nullable(Float64) AFTER status,
    ADD COLUMN IF NOT EXISTS threshold Nullable(Float64) AFTER value,
    ADD COLUMN IF NOT EXISTS labels Map(String, String) AFTER threshold;
