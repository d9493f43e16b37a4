"""`warden query` and `warden ledger verify`: the analysts' and auditors' entry points."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime

import typer

from warden.cli.output import console, fail, table
from warden.core.errors import WardenError
from warden.core.settings import WardenSettings
from warden.ledger import access
from warden.ledger.client import Ledger
from warden.ledger.endpoint import jsonable
from warden.ledger.migrations import migrate
from warden.ledger.verifications import record as record_verification
from warden.ledger.verify import verify as verify_ledger
from warden.ledger_sink.settings import LedgerSinkSettings

ledger_app = typer.Typer(help="The immutable ledger.", no_args_is_help=True)


def query(
    sql: str = typer.Argument(..., help='Read-only SQL, e.g. "SELECT count() FROM warden.agent_events"'),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv"),
) -> None:
    """Run read-only SQL against the ledger (through the running stack when it is up)."""
    try:
        columns, rows = access.query(WardenSettings(), sql)
    except WardenError as exc:
        fail(str(exc))
    if fmt == "json":
        for row in rows:
            print(json.dumps(dict(zip(columns, jsonable(row), strict=True))))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "table":
        console.print(table(columns, rows))
    else:
        fail(f"--format must be table, json or csv, got {fmt!r}", 2)


@ledger_app.command("verify")
def verify() -> None:
    """Recompute every hash chain; exit 1 naming each record that changed."""
    settings = LedgerSinkSettings()
    if access.endpoint_url(settings) is not None:
        fail("the stack is running and owns the embedded ledger: stop `warden up` first, then verify", 2)
    try:
        ledger = Ledger.from_settings(settings)
        # A ledger written by an older Warden lacks the tables and columns this one reads; the
        # migrations only add (with defaults that hashes leave out), exactly as the sink's next start would.
        applied = migrate(ledger, settings.retention())
        if applied:
            console.print(f"brought the ledger's schema up to date first (migrations {', '.join(map(str, applied))})")
        started = datetime.now(UTC)
        report = verify_ledger(ledger)
    except WardenError as exc:
        fail(str(exc))
    assert report.broken is not None
    try:  # the result is kept for the dashboards; failing to keep it does not change the verdict
        record_verification(ledger, started, report.records, report.chains, [str(b) for b in report.broken])
    except WardenError as exc:
        console.print(f"[yellow]could not record this verification in the ledger:[/] {exc}", highlight=False)
    for broken in report.broken:
        console.print(f"[red]TAMPERED[/] {broken}", highlight=False)
    status = "[green]intact[/]" if report.ok else f"[red]{len(report.broken)} problem(s)[/]"
    console.print(f"verified {report.records} records in {report.chains} chains: {status}")
    if not report.ok:
        raise typer.Exit(1)
