-- The SDK cache (issue 17): LlmCall's cache fields on agent_events, and the hits and savings of
-- cost_rollups. Nullable on agent_events (null on every other event type and on rows written before),
-- which is the default the hash chain leaves out, so earlier rows keep their hashes.

ALTER TABLE {db}.agent_events
    ADD COLUMN IF NOT EXISTS cache_key Nullable(String) AFTER release,
    ADD COLUMN IF NOT EXISTS cache_hit Nullable(Bool) AFTER cache_key,
    ADD COLUMN IF NOT EXISTS cache_pii LowCardinality(Nullable(String)) AFTER cache_hit,
    ADD COLUMN IF NOT EXISTS saved_input_tokens Nullable(Int64) AFTER cache_pii,
    ADD COLUMN IF NOT EXISTS saved_output_tokens Nullable(Int64) AFTER saved_input_tokens,
    ADD COLUMN IF NOT EXISTS saved_usd Nullable(Float64) AFTER saved_output_tokens;

ALTER TABLE {db}.cost_rollups
    ADD COLUMN IF NOT EXISTS cache_hits Int64 DEFAULT 0 AFTER runs_over_ceiling,
    ADD COLUMN IF NOT EXISTS saved_tokens Int64 DEFAULT 0 AFTER cache_hits,
    ADD COLUMN IF NOT EXISTS saved_usd Float64 DEFAULT 0 AFTER saved_tokens;
