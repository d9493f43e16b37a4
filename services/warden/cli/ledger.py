"""`warden query` and `warden ledger verify`: the analysts' and auditors' entry points."""

from __future__ import annotations

import csv
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer

from warden.cli.output import console, fail, table
from warden.core.errors import WardenError
from warden.core.settings import WardenSettings
from warden.ledger import access
from warden.ledger.client import Ledger
from warden.ledger.endpoint import jsonable
from warden.ledger.keys import rotate
from warden.ledger.migrations import migrate
from warden.ledger.verifications import record as record_verification
from warden.ledger.verify import verify as verify_ledger
from warden.ledger_rows.dead_letters import sealer_from
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
def verify(
    checkpoints: Path | None = typer.Option(
        None, "--checkpoints", help="The checkpoint file kept outside the ledger (default: WARDEN_CHECKPOINT_FILE)"),
) -> None:
    """Recompute every hash chain and check it against the signed checkpoints; exit 1 naming each
    record changed, deleted, inserted or replaced, and each run deleted. Run it with the stack stopped:
    it opens the embedded ledger itself."""
    settings = LedgerSinkSettings()
    checkpoint_file = checkpoints or settings.checkpoint_file
    if checkpoint_file is not None and not checkpoint_file.exists():
        fail(f"the checkpoint file {checkpoint_file} does not exist", 2)
    if access.endpoint_url(settings) is not None:
        # chDB locks its directory to one process (a second one fails to open it, read-only or not), and verify
        # also writes: the migrations and its ledger_verifications row. The endpoint serves read-only SQL only.
        fail(f"a running stack owns the embedded ledger under {settings.data_dir} (chDB lets one process open it): "
             "stop it first (Ctrl-C where `warden up` or `warden demo --keep-running` runs), then verify; "
             "`warden query` works beside it", 2)
    try:
        ledger = Ledger.from_settings(settings)
        # A ledger written by an older Warden lacks the tables and columns this one reads; the
        # migrations only add (with defaults that hashes leave out), exactly as the sink's next start would.
        applied = migrate(ledger, settings.retention())
        if applied:
            console.print(f"brought the ledger's schema up to date first (migrations {', '.join(map(str, applied))})",
                          soft_wrap=True)
        started = datetime.now(UTC)
        report = verify_ledger(ledger, settings.chain_keys(), checkpoint_file)
    except WardenError as exc:
        fail(str(exc))
    assert report.broken is not None
    try:  # the result is kept for the dashboards; failing to keep it does not change the verdict
        problems_found = [str(b) for b in report.broken] + [f"unverifiable: {u}" for u in report.unverifiable]
        record_verification(ledger, started, report.records, report.chains, problems_found)
    except WardenError as exc:
        console.print(f"[yellow]could not record this verification in the ledger:[/] {exc}", highlight=False)
    for broken in report.broken:
        console.print(f"[red]TAMPERED[/] {broken}", highlight=False, soft_wrap=True)
    for unverifiable in report.unverifiable:
        console.print(f"[yellow]UNVERIFIABLE[/] {unverifiable}", highlight=False, soft_wrap=True)
    problems = len(report.broken) + len(report.unverifiable)
    status = "[green]intact[/]" if report.ok else f"[red]{problems} problem(s)[/]"
    legacy = (f"; {report.legacy_records} legacy unkeyed record(s) in {report.legacy_chains} chain(s), "
              "written before keyed chains" if report.legacy_records else "")
    console.print(f"verified {report.records} records in {report.chains} chains ({report.keyed_records} keyed"
                  f"{legacy}) against {report.checkpoints} checkpoint(s): {status}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@ledger_app.command("rotate-key")
def rotate_key() -> None:
    """Add a new key to the managed ledger key file and make it the one that links new rows.

    Takes effect when the ledger-sink restarts; older keys stay in the file so every row still
    verifies. With WARDEN_LEDGER_KEYS set, rotate there instead (add a key, set WARDEN_LEDGER_KEY_ID).
    """
    settings = LedgerSinkSettings()
    if settings.ledger_keys:
        fail("WARDEN_LEDGER_KEYS is set: add the new key there and point WARDEN_LEDGER_KEY_ID at it", 2)
    try:
        key_id, path = rotate(settings.data_dir)
    except WardenError as exc:
        fail(str(exc))
    console.print(f"new ledger key {key_id} is current in {path}; restart the ledger-sink to use it")


@ledger_app.command("dead-letter-key")
def dead_letter_key() -> None:
    """Print a new dead-letter key (Fernet) for WARDEN_DEAD_LETTER_KEYS; nothing is stored."""
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())


@ledger_app.command("unseal")
def unseal(
    dead_letter_id: str = typer.Argument(..., help="dead_letter_id of the row"),
    text: bool = typer.Option(False, "--text", help="print the bytes as UTF-8 text instead of base64"),
) -> None:
    """The original bytes of a dead letter, for forensics (needs the key it was sealed with)."""
    import base64

    settings = WardenSettings()
    try:
        sealer = sealer_from(settings.dead_letter_keys, settings.dead_letter_key_id)
        if sealer is None:
            fail("WARDEN_DEAD_LETTER_KEYS is not set: sealed bytes cannot be opened without their key", 2)
        if not re.fullmatch(r"[0-9A-Za-z_-]{1,128}", dead_letter_id):
            fail(f"a dead_letter_id is letters, digits, '_' or '-', got {dead_letter_id!r}", 2)
        _, rows = access.query(settings, f"SELECT raw_sealed, raw_key_id FROM {settings.clickhouse_database}."
                                         f"dead_letters WHERE dead_letter_id = '{dead_letter_id}' LIMIT 1")
        if not rows:
            fail(f"no dead letter {dead_letter_id!r} in the ledger", 1)
        sealed, key_id = rows[0]
        if not sealed:
            fail(f"dead letter {dead_letter_id!r} has no sealed copy (no dead-letter key was configured when it "
                 "was written): only its redacted body was kept", 1)
        raw = sealer.unseal(str(sealed).encode("ascii"), str(key_id))
    except WardenError as exc:
        fail(str(exc))
    print(raw.decode("utf-8", "replace") if text else base64.b64encode(raw).decode("ascii"))
