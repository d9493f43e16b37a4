-- RolloutDecision.commanded_at: when an operator gave a manual rollout command, or an approver decided a
-- promotion (their wall clock, as the approvals service stamped it), beside decided_at (event time).
-- Nullable: null for the controller's own decisions and on rows written before, which is the default the
-- hash chain leaves out, so earlier rows keep their hashes.

ALTER TABLE {db}.rollout_decisions
    ADD COLUMN IF NOT EXISTS commanded_at Nullable(DateTime64(3, 'UTC')) AFTER approval_call_id;
