"""What a ledger row is, without ClickHouse: the table each topic lands in and its columns (tables.py),
the hash link of each row (chain.py), the signed checkpoints of chain heads (checkpoints.py) and what a
dead letter may keep (dead_letters.py). Pure, so the processors (ledger-sink, notifier) and replay import
it; the ClickHouse I/O that stores and verifies these rows is warden.ledger."""
