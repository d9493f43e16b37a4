"""Versioned DDL applied at start against the real engine (chDB)."""

from __future__ import annotations

from warden.ledger.client import Ledger
from warden.ledger.migrations import discover, migrate
from warden.ledger_rows.tables import TABLES


def test_every_ledger_table_exists_with_its_contract_columns(ledger: Ledger) -> None:
    for table in TABLES.values():
        columns = {r[0] for r in ledger.rows(f"DESCRIBE TABLE {ledger.database}.{table.name}")}
        missing = set(table.insert_columns) | {"ingested_at"} - columns
        assert not missing - columns, (table.name, missing - columns)


def test_migrations_apply_once(ledger: Ledger) -> None:
    assert migrate(ledger, {"*": 7}) == []
    applied = ledger.rows(f"SELECT version FROM {ledger.database}.schema_migrations")
    assert sorted(r[0] for r in applied) == [m.version for m in discover()]


def test_tables_are_partitioned_by_month_with_ttl_retention_from_ingestion(ledger: Ledger) -> None:
    migrate(ledger, {"*": 7, "dead_letters": 2})
    ddl = dict(ledger.rows("SELECT name, create_table_query FROM system.tables WHERE database = %(db)s",
                           {"db": ledger.database}))
    for table in TABLES.values():
        assert "PARTITION BY toYYYYMM" in ddl[table.name]
        years = 2 if table.name == "dead_letters" else 7
        assert f"TTL toDateTime(ingested_at) + toIntervalYear({years})" in ddl[table.name], ddl[table.name]
