"""`warden token issue | revoke`: transaction-scoped credentials for one run of one workflow.

`issue` signs locally with the proxy's keys (WARDEN_PROXY_SIGNING_KEYS), so the token is the
only thing printed on stdout: `TOKEN=$(warden token issue ...)`. `revoke` goes through the
proxy's API, which records the revocation and (with a shared store) tells every replica.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import httpx
import typer

from warden.cli.output import errors, fail
from warden.core.errors import ConfigError
from warden.policy.bundle import BundleWatcher
from warden.tool_proxy.settings import ToolProxySettings
from warden.tool_proxy.tokens import MAX_TTL_S, TokenError

token_app = typer.Typer(help="Short-lived run tokens for the tool proxy.", no_args_is_help=True)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h)?$")


def seconds(text: str) -> float:
    """'900', '900s', '15m', '1h' -> seconds."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise typer.BadParameter(f"expected a duration like 900, 15m or 1h, got {text!r}")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]


@token_app.command("issue")
def issue(tenant: str = typer.Option(..., "--tenant"), workflow: str = typer.Option(..., "--workflow"),
          run: str = typer.Option(..., "--run"), agent: str = typer.Option("agent", "--agent", help="Agent id"),
          ttl: str = typer.Option("", "--ttl", help=f"Lifetime, e.g. 15m (default) or 1h (the maximum, "
                                                    f"{MAX_TTL_S} s)")) -> None:
    """Mint a signed token scoped to one run, tenant and workflow (and the workflow's tools)."""
    from warden.tool_proxy.service import keyring_for, mint  # here: the proxy's web stack slows every command

    settings = ToolProxySettings()
    try:
        token, claims = mint(keyring_for(settings), BundleWatcher(settings.policies_dir), tenant, workflow, run,
                             agent, seconds(ttl) if ttl else settings.proxy_token_ttl_s, time.time())
    except (TokenError, ConfigError) as exc:
        fail(str(exc), 2)
    expires = datetime.fromtimestamp(claims.expires_at, UTC)
    errors.print(f"token {claims.token_id} for run {run} of {tenant}/{workflow}, tools "
                 f"{', '.join(sorted(claims.tools))}; expires {expires:%Y-%m-%dT%H:%M:%SZ} (key {claims.key_id})",
                 highlight=False)
    print(token)


@token_app.command("revoke")
def revoke(reason: str = typer.Option(..., "--reason", help="Why (recorded in the ledger)"),
           token: str | None = typer.Option(None, "--token", help="The token itself"),
           token_id: str | None = typer.Option(None, "--token-id", help="Or its id (jti)"),
           tenant: str | None = typer.Option(None, "--tenant", help="Or every token of one run: tenant ..."),
           run: str | None = typer.Option(None, "--run", help="... and run"),
           issuer_token: str | None = typer.Option(None, "--issuer-token", help="Default WARDEN_PROXY_ISSUER_TOKEN")
           ) -> None:
    """Revoke a token (or every token of a run) at the proxy: a replay is refused with 401."""
    settings = ToolProxySettings()
    secret = issuer_token or (settings.proxy_issuer_token.get_secret_value() if settings.proxy_issuer_token else None)
    if not secret:
        fail("an issuer token is required: --issuer-token or WARDEN_PROXY_ISSUER_TOKEN", 2)
    body = {"reason": reason, "token": token, "token_id": token_id, "tenant": tenant, "run": run}
    try:
        response = httpx.post(f"{settings.proxy_url}/v1/tokens/revoke", json=body, timeout=15,
                              headers={"Authorization": f"Bearer {secret}"})
    except httpx.HTTPError as exc:
        fail(f"the tool proxy at {settings.proxy_url} is unreachable: {exc}")
    if response.status_code >= 400:
        try:
            refused = response.json()
            detail = f"{refused['error']}: {refused['reason']}"
        except (ValueError, KeyError, TypeError):
            detail = response.text
        fail(f"HTTP {response.status_code} {detail}")
    done = response.json()
    print(f"revoked {done['revoked']} (by {done['by']})")
