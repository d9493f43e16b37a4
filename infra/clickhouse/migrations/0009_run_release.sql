-- RunStarted.release (optional; rollouts compare releases). Null for rows written before, whose hashes
-- stay the same (a column added with its default joins a record's hash only when it differs).

ALTER TABLE {db}.agent_events ADD COLUMN IF NOT EXISTS release LowCardinality(Nullable(String)) AFTER route;
