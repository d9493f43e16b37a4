"""Pure alerting logic: rules, fingerprints, robust baselines, event-time ordering (no I/O)."""
