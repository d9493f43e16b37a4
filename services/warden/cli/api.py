"""The operator commands' one way to act: the approvals service's HTTP API, with your own token.

`warden approvals`, `warden kill` / `revive` and `warden rollout` all go through it, so who you
are (the identity your token maps to in WARDEN_APPROVER_TOKENS), what you may do (its scopes) and
the record of a refused attempt are the server's, in one place, exactly as for a curl user.
"""

from __future__ import annotations

from typing import Any

import httpx
import typer

from warden.cli.output import fail
from warden.core.settings import WardenSettings

TOKEN = typer.Option(None, "--token", help="Your approver token (default: WARDEN_APPROVER_TOKEN)")
# Connecting to a service that is not there must fail at once; a rollout command waits for the
# controller to apply it, so reading may take longer.
TIMEOUT = httpx.Timeout(60.0, connect=2.0)


def token_of(explicit: str | None, settings: WardenSettings) -> str:
    secret = explicit or (settings.approver_token.get_secret_value() if settings.approver_token else None)
    if not secret:
        fail("an approver token is required: --token or WARDEN_APPROVER_TOKEN (yours, from WARDEN_APPROVER_TOKENS "
             "of the approvals service)", 2)
    return secret


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI's validation errors
        return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail)
    return str(detail)


def call(method: str, path: str, token: str | None, **kwargs: Any) -> Any:
    """One request; any failure is one line on stderr and a non-zero exit."""
    settings = WardenSettings()
    secret = token_of(token, settings)
    url = settings.approvals_api_url
    try:
        response = httpx.request(method, f"{url}{path}", timeout=TIMEOUT,
                                 headers={"Authorization": f"Bearer {secret}"}, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"the approvals service at {url} is unreachable (is `warden up` running? WARDEN_APPROVALS_URL, "
             f"or WARDEN_APPROVALS_PORT for one on this machine, says where it is): {exc}")
    if response.status_code >= 400:
        fail(f"HTTP {response.status_code}: {_detail(response)}")
    return response.json()
