-- LlmCall.route_decision (ADR 0015): a routing decision of run.route / run.escalate, as JSON (kind, rule,
-- policy_version, features, from_route, reason, confidence, exhausted); null on every real llm_call. Rows
-- written before keep their hashes (a column added with its default joins a record's hash only when set).
-- cost_rollups: runs_escalated and run_cost_usd on the rows that count runs (model = ''), whose route is
-- now the route the run was first given (empty for a run with no routing decision).

ALTER TABLE {db}.agent_events ADD COLUMN IF NOT EXISTS route_decision Nullable(String) AFTER release;
ALTER TABLE {db}.cost_rollups
    ADD COLUMN IF NOT EXISTS runs_escalated Int64 DEFAULT 0 AFTER runs_over_ceiling,
    ADD COLUMN IF NOT EXISTS run_cost_usd Float64 DEFAULT 0 AFTER runs_escalated;
