"""`warden approvals list | approve | reject`: the approver's side of human-in-the-loop, over the API."""

from __future__ import annotations

from typing import Any

import httpx
import typer

from warden.cli.output import console, fail, table
from warden.core.settings import WardenSettings

approvals_app = typer.Typer(help="Human approvals of risky tool calls.", no_args_is_help=True)


def _call(method: str, path: str, token: str | None, **kwargs: Any) -> Any:
    settings = WardenSettings()
    secret = token or (settings.approver_token.get_secret_value() if settings.approver_token else None)
    if not secret:
        fail("an approver token is required: --token or WARDEN_APPROVER_TOKEN", 2)
    try:
        response = httpx.request(method, f"{settings.approvals_url}{path}", timeout=15,
                                 headers={"Authorization": f"Bearer {secret}"}, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"the approvals service at {settings.approvals_url} is unreachable: {exc}")
    if response.status_code >= 400:
        detail = response.json().get("detail", response.text) if response.content else response.reason_phrase
        fail(f"HTTP {response.status_code}: {detail}")
    return response.json()


@approvals_app.command("list")
def list_pending(token: str | None = typer.Option(None, "--token", help="Your approver token")) -> None:
    """Pending requests: the call, the policy's reason, the risk score when there is one."""
    items = _call("GET", "/v1/approvals", token)
    rows = [[i["call_id"], i["tenant_id"], i["run_id"], i["reason"], ", ".join(i["policy_ids"]),
             "-" if i["risk_score"] is None else f"{i['risk_score']:.2f}", i["expires_at"]] for i in items]
    console.print(table(["call", "tenant", "run", "reason", "policies", "risk", "expires"], rows,
                        title=f"{len(rows)} pending approval(s)"))


def _decide(verb: str, call_id: str, rationale: str, token: str | None) -> None:
    done = _call("POST", f"/v1/approvals/{call_id}/{verb}", token, json={"rationale": rationale})
    console.print(f"{done['decision']} call {done['call_id']} as {done['approver']} at {done['decided_at']}")


@approvals_app.command("approve")
def approve(call_id: str, rationale: str = typer.Option(..., "--rationale", "-r", help="Why (required)"),
            token: str | None = typer.Option(None, "--token", help="Your approver token")) -> None:
    """Approve a pending call."""
    _decide("approve", call_id, rationale, token)


@approvals_app.command("reject")
def reject(call_id: str, rationale: str = typer.Option(..., "--rationale", "-r", help="Why (required)"),
           token: str | None = typer.Option(None, "--token", help="Your approver token")) -> None:
    """Reject a pending call."""
    _decide("reject", call_id, rationale, token)
