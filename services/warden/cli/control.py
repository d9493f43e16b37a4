"""`warden kill` / `warden revive`: kill switches and read-only mode, recorded with who, when and why."""

from __future__ import annotations

import getpass

import typer

from warden.cli.output import console, fail
from warden.core.errors import WardenError
from warden.core.records import ControlKind
from warden.core.settings import WardenSettings
from warden.policy.control import publish

SCOPE_HELP = "global | tenant:<id> | workflow:<name> | tool:<tool> | tool:<tool.action>"


def _switch(scope: str, active: bool, reason: str, actor: str | None, read_only: bool) -> None:
    kind = ControlKind.READ_ONLY if read_only else ControlKind.KILL
    if read_only and scope.startswith("tool:"):
        fail("read-only mode applies to global, tenant:<id> or workflow:<name>", 2)
    try:
        control = publish(WardenSettings(), kind, scope, active, actor or getpass.getuser(), reason)
    except WardenError as exc:
        fail(str(exc))
    state = "[red]ON[/]" if active else "[green]off[/]"
    console.print(f"{control.kind.value} {control.scope} {state} by {control.actor} at {control.at:%Y-%m-%d %H:%M:%S}Z")


def kill(
    scope: str = typer.Argument(..., help=SCOPE_HELP),
    reason: str = typer.Option(..., "--reason", "-r", help="Why: recorded in the ledger"),
    actor: str | None = typer.Option(None, "--actor", help="Who (default: your user name)"),
    read_only: bool = typer.Option(False, "--read-only", help="Only tools marked read-only stay allowed"),
) -> None:
    """Refuse every call in a scope (or every non-read-only call with --read-only)."""
    _switch(scope, True, reason, actor, read_only)


def revive(
    scope: str = typer.Argument(..., help=SCOPE_HELP),
    reason: str = typer.Option(..., "--reason", "-r", help="Why: recorded in the ledger"),
    actor: str | None = typer.Option(None, "--actor", help="Who (default: your user name)"),
    read_only: bool = typer.Option(False, "--read-only", help="Clear read-only mode instead of a kill switch"),
) -> None:
    """Clear a kill switch (or read-only mode)."""
    _switch(scope, False, reason, actor, read_only)
