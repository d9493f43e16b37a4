"""policy-evaluator: one PolicyDecision per tool call, kill switches, stop-ship conditions."""
