"""The immutable ledger in ClickHouse: the client, migrations, the query endpoint, checkpoints and
verification. What a row is (tables, hash chains, dead letters) is pure and lives in warden.ledger_rows;
redaction is part of the contract (warden.core.redaction), since the SDK redacts before producing."""
