"""The immutable ledger in ClickHouse: tables, migrations, hash chains, redaction, queries."""
