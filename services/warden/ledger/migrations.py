"""Versioned DDL under infra/clickhouse/migrations, applied in order at sink start.

Migrations only create or add (the analysts' contract: never rename or drop a column).
Retention is applied after them so that changing the setting changes the TTL of
existing tables without a new migration.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from warden.core.errors import ConfigError
from warden.ledger.client import Ledger
from warden.ledger_rows.tables import TABLES

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "infra" / "clickhouse" / "migrations"
_NAME = re.compile(r"^(\d{4})_[\w-]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def statements(self, database: str) -> list[str]:
        text = "\n".join(
            line for line in self.path.read_text().splitlines() if not line.strip().startswith("--")
        )
        return [s.strip().replace("{db}", database) for s in text.split(";") if s.strip()]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ConfigError(f"migration file {path.name} must be named NNNN_description.sql")
        found.append(Migration(int(match.group(1)), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ConfigError(f"two migrations share a version number in {directory}: {versions}")
    return found


def migrate(ledger: Ledger, retention_years: dict[str, int], directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply pending migrations and the retention TTLs; returns the versions applied now."""
    db = ledger.database
    ledger.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    ledger.command(
        f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, name String, checksum String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version"
    )
    applied = {row[0] for row in ledger.rows(f"SELECT version FROM {db}.schema_migrations")}
    done = []
    for migration in discover(directory):
        if migration.version in applied:
            continue
        for statement in migration.statements(db):
            ledger.command(statement)
        ledger.insert("schema_migrations", ["version", "name", "checksum"],
                      [[migration.version], [migration.path.name], [migration.checksum]])
        done.append(migration.version)
    ensure_link_columns(ledger)
    apply_retention(ledger, retention_years)
    return done


def ensure_link_columns(ledger: Ledger) -> None:
    """Every chained table has hash_key_id (the ledger key that linked a row, ADR 0009), also one whose
    migration is numbered after 0011: the sink writes it into every table it lands."""
    db = {"db": ledger.database}
    tables = {r[0] for r in ledger.rows("SELECT name FROM system.tables WHERE database = %(db)s", db)}
    have = {r[0] for r in ledger.rows(
        "SELECT table FROM system.columns WHERE database = %(db)s AND name = 'hash_key_id'", db)}
    for table in TABLES.values():
        if table.name in tables and table.name not in have:
            ledger.command(f"ALTER TABLE {ledger.database}.{table.name} ADD COLUMN IF NOT EXISTS hash_key_id "
                           "LowCardinality(String) DEFAULT '' AFTER hash")


def apply_retention(ledger: Ledger, retention_years: dict[str, int]) -> None:
    """Set each table's TTL to its retention; a metadata change only, no rows are rewritten now."""
    current = dict(ledger.rows(
        "SELECT name, create_table_query FROM system.tables WHERE database = %(db)s", {"db": ledger.database}
    ))
    for table in TABLES.values():
        years = retention_years.get(table.name, retention_years.get("*", 7))
        if years < 1:
            raise ConfigError(f"retention for {table.name} must be at least 1 year, got {years}")
        # Retention counts from when Warden received a record, never from a time the client chose:
        # a backdated event must not vanish from the audit trail.
        ttl = f"toDateTime(ingested_at) + toIntervalYear({years})"
        if ttl in current.get(table.name, ""):
            continue
        ledger.command(
            f"ALTER TABLE {ledger.database}.{table.name} MODIFY TTL toDateTime(ingested_at) "
            f"+ INTERVAL {years} YEAR",
            settings={"materialize_ttl_after_modify": 0},
        )
