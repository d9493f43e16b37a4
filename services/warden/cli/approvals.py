"""`warden approvals list | approve | reject`: the approver's side of human-in-the-loop, over the API."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

from warden.cli.api import TOKEN, call
from warden.cli.output import console, fail

approvals_app = typer.Typer(help="Human approvals of risky tool calls.", no_args_is_help=True)


def duration(seconds: float) -> str:
    """90 -> '1m 30s'; 4000 -> '1h 06m'."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _risk(item: dict[str, Any]) -> str:
    if item.get("risk_score") is None:
        return "not scored"
    factors = ", ".join(f"{f['factor']} {f['contribution']:.2f}" for f in item.get("risk_factors", []))
    return f"{item['risk_score']:.2f}" + (f" (top factors: {factors})" if factors else "")


def _call_line(item: dict[str, Any]) -> str:
    what = item.get("tool_action") or "(call details unknown)"
    if item.get("params") is not None:
        what += " " + json.dumps(item["params"], ensure_ascii=False, sort_keys=True)
    return what


def block(item: dict[str, Any]) -> Table:
    """One request: its full id on a line of its own, then what, where, why, risk and time, folded to any width."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    where = (f"tenant {item['tenant_id']} · workflow {item.get('workflow') or '?'} · agent "
             f"{item.get('agent_id') or '?'} · run {item['run_id']}")
    rows = [("call", _call_line(item)), ("where", where),
            ("why", f"{', '.join(item['policy_ids'])}: {item['reason']}"), ("risk", _risk(item)),
            ("time", f"waiting {duration(item['age_s'])}, expires in {duration(item['expires_in_s'])} "
                     f"({item['expires_at']})")]
    if item.get("details") not in (None, "ledger"):
        rows.append(("note", str(item["details"])))
    for key, value in rows:
        grid.add_row(Text(key), Text(value))  # Text: agents' params are never read as console markup
    return grid


@approvals_app.command("list")
def list_pending(token: str | None = TOKEN,
                 fmt: str = typer.Option("table", "--format", "-f", help="table or json")) -> None:
    """Pending requests, oldest first: the call and its (redacted) params, tenant, workflow, agent and run,
    the policy's reason, the risk score and its top factors, how long it has waited and has left."""
    if fmt not in ("table", "json"):
        fail(f"--format must be table or json, got {fmt!r}", 2)
    items: list[dict[str, Any]] = call("GET", "/v1/approvals", token)
    if fmt == "json":
        print(json.dumps(items, indent=2, ensure_ascii=False))
        return
    console.print(f"[bold]{len(items)} pending approval(s)[/], oldest first; approve or reject with the id "
                  "or a unique prefix of it", highlight=False)
    for item in items:
        console.print()
        console.print(Text(item["call_id"], style="bold cyan"), soft_wrap=True)
        console.print(block(item))


def _decide(verb: str, call_id: str, rationale: str, token: str | None) -> None:
    done = call("POST", f"/v1/approvals/{quote(call_id, safe=':')}/{verb}", token, json={"rationale": rationale})
    console.print(Text(f"{done['decision']} call {done['call_id']} as {done['approver']} at {done['decided_at']}"),
                  soft_wrap=True)


CALL = typer.Argument(..., help="The call id, or a unique prefix of it (6 characters or more)")
RATIONALE = typer.Option(..., "--rationale", "-r", help="Why (required, recorded in the ledger)")


@approvals_app.command("approve")
def approve(call_id: str = CALL, rationale: str = RATIONALE, token: str | None = TOKEN) -> None:
    """Approve a pending call."""
    _decide("approve", call_id, rationale, token)


@approvals_app.command("reject")
def reject(call_id: str = CALL, rationale: str = RATIONALE, token: str | None = TOKEN) -> None:
    """Reject a pending call."""
    _decide("reject", call_id, rationale, token)
