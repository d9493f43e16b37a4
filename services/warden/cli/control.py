"""`warden kill` / `warden revive`: kill switches and read-only mode, recorded with who, when and why.

Who is the identity your approver token maps to, never the OS user: the command asks the approvals
service (`POST /v1/control/kill|revive`), which checks the token and its scopes and records a refused
attempt, exactly as for any other client of the API. `--direct` is the escape hatch for when that
service itself is down: the same token, checked here against this machine's WARDEN_APPROVER_TOKENS
with the same scope rule, and the switch published on the control topic by this process.
"""

from __future__ import annotations

import typer

from warden.approvals.processor import utcnow
from warden.approvals.scopes import ALL, identify, refusal_alert
from warden.approvals.settings import ApprovalsSettings
from warden.broker.probe import require_broker
from warden.cli.api import TOKEN, call, token_of
from warden.cli.output import console, fail
from warden.cli.switches import in_force
from warden.core import topics
from warden.core.errors import WardenError
from warden.core.records import Alert, Control, ControlKind
from warden.core.switches import revive_refusal
from warden.core.wire import wire_for
from warden.kafka import clients
from warden.kafka.control import publish

SCOPE_HELP = "global | tenant:<id> | workflow:<name> | tool:<tool> | tool:<tool.action>"
DIRECT = typer.Option(False, "--direct", help="The approvals service is down: check your token against this "
                      "machine's WARDEN_APPROVER_TOKENS and publish on the control topic yourself")


def _record(settings: ApprovalsSettings, alert: Alert) -> None:
    """A refused attempt goes to on-call and the ledger, as the API records it (best effort)."""
    producer = clients.producer(settings)
    try:
        producer.produce(settings.topic(topics.ALERTS), wire_for(settings).encode(alert),
                         key=alert.tenant_id.encode())
        producer.flush_or_raise(5, f"refusal record {alert.alert_id}")
    except WardenError as exc:
        console.print(f"[yellow]the refusal could not be recorded:[/] {exc}", highlight=False)


def _direct(scope: str, active: bool, reason: str, read_only: bool, token: str | None) -> Control:
    settings = ApprovalsSettings()
    secret = token_of(token, settings)
    grants = settings.grants()
    if not grants:
        fail("--direct checks your token against WARDEN_APPROVER_TOKENS, and none are configured here", 2)
    who = identify(grants, secret)
    if who is None:
        fail("--direct: that token is none of WARDEN_APPROVER_TOKENS on this machine", 2)
    try:
        require_broker(settings)
    except WardenError as exc:
        fail(str(exc))
    refused = grants[who].switch_refusal(scope)
    if refused is not None:
        tenant = scope.removeprefix("tenant:") if scope.startswith("tenant:") else ALL
        action = "set" if active else "lift"
        _record(settings, refusal_alert(who, action, f"switch {scope}", tenant, refused, grants[who], utcnow()))
        fail(f"{who} may not {action} switch {scope}: {refused}")
    kind = ControlKind.READ_ONLY if read_only else ControlKind.KILL
    try:
        if not active and (nothing := revive_refusal({c.key: c for c in in_force(settings)}, kind, scope)):
            fail(nothing)  # as the API refuses it (409): a revive of the wrong kind would leave the other set
        return publish(settings, kind, scope, active, who, reason)
    except WardenError as exc:
        fail(str(exc))


def _switch(scope: str, active: bool, reason: str, read_only: bool, token: str | None, direct: bool) -> None:
    if read_only and scope.startswith("tool:"):
        fail("read-only mode applies to global, tenant:<id> or workflow:<name>", 2)
    if direct:
        control = _direct(scope, active, reason, read_only, token)
    else:
        body = call("POST", f"/v1/control/{'kill' if active else 'revive'}", token,
                    json={"scope": scope, "reason": reason, "read_only": read_only})
        control = Control.model_validate(body)
    state = "[red]ON[/]" if active else "[green]off[/]"
    console.print(f"{control.kind.value} {control.scope} {state} by {control.actor} at {control.at:%Y-%m-%d %H:%M:%S}Z",
                  highlight=False)


def kill(
    scope: str = typer.Argument(..., help=SCOPE_HELP),
    reason: str = typer.Option(..., "--reason", "-r", help="Why: recorded in the ledger"),
    read_only: bool = typer.Option(False, "--read-only", help="Only tools marked read-only stay allowed"),
    token: str | None = TOKEN,
    direct: bool = DIRECT,
) -> None:
    """Refuse every call in a scope (or every non-read-only call with --read-only), as your token's identity."""
    _switch(scope, True, reason, read_only, token, direct)


def revive(
    scope: str = typer.Argument(..., help=SCOPE_HELP),
    reason: str = typer.Option(..., "--reason", "-r", help="Why: recorded in the ledger"),
    read_only: bool = typer.Option(False, "--read-only", help="Clear read-only mode instead of a kill switch"),
    token: str | None = TOKEN,
    direct: bool = DIRECT,
) -> None:
    """Clear a kill switch (or read-only mode), as your token's identity."""
    _switch(scope, False, reason, read_only, token, direct)
