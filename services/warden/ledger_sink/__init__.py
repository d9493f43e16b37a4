"""ledger-sink: lands every topic in the ClickHouse ledger, exactly once, hash-chained and redacted."""
