"""Run tokens for agent platforms: ``POST /v1/tokens`` mints, ``POST /v1/tokens/revoke`` revokes.

Only an issuer (an agent platform holding one of WARDEN_PROXY_ISSUER_TOKENS) may mint or revoke,
and only for its own tenants (WARDEN_PROXY_ISSUER_TENANTS): an agent cannot mint its own token,
and one platform cannot revoke another's runs. The issuer is a FastAPI dependency, as the
approvals service authenticates its approvers. Every token issued or revoked leaves a ProxyCall.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field

from warden.core import topics
from warden.core.errors import WardenError
from warden.core.records import ProxyCall, ProxyCallKind, ProxyOutcome
from warden.policy.bundle import BundleWatcher
from warden.tool_proxy import processor as p
from warden.tool_proxy.proxy import BEARER, ToolProxy, keyring_for
from warden.tool_proxy.tokens import MAX_TTL_S, Keyring, TokenClaims, TokenError

__all__ = ["keyring_for", "mint", "token_router"]
log = logging.getLogger("warden.tool_proxy")


def mint(keyring: Keyring, watcher: BundleWatcher, tenant_id: str, workflow: str, run_id: str, agent_id: str,
         ttl_s: float, now: float) -> tuple[str, TokenClaims]:
    """A token for one run, scoped to the workflow's tool inventory in the policy bundle."""
    tools = watcher.bundle.workflows.get(workflow)
    if tools is None:
        raise TokenError("unknown_workflow", f"workflow {workflow!r} is not in the policy bundle's workflows.toml "
                                             f"(known: {', '.join(sorted(watcher.bundle.workflows))})", 422)
    return keyring.issue(tenant_id=tenant_id, workflow=workflow, run_id=run_id, agent_id=agent_id,
                         tools=tools.tools, now=now, ttl_s=ttl_s)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(..., min_length=1)
    workflow: str = Field(..., min_length=1)
    run: str = Field(..., min_length=1)
    agent_id: str = Field("agent", min_length=1)
    ttl_s: float | None = Field(None, description="Default 900 s; 0 or less, or more than 3600 s, is refused.")


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str | None = None
    token_id: str | None = None
    tenant: str | None = None
    run: str | None = None
    reason: str = Field(..., min_length=1)


class Issuers:
    """Who may mint and revoke, and for which tenants."""

    def __init__(self, proxy: ToolProxy) -> None:
        settings = proxy.settings
        self.tokens = {who: t.get_secret_value() for who, t in settings.proxy_issuer_tokens.items()}
        self.tenants = {who: frozenset(tenants) for who, tenants in settings.proxy_issuer_tenants.items()}
        unmapped = sorted(set(self.tokens) - set(self.tenants))
        if unmapped:
            log.warning("issuers %s have no tenants in WARDEN_PROXY_ISSUER_TENANTS: they can mint no tokens",
                        ", ".join(unmapped))

    def identify(self, authorization: str | None) -> str:
        presented = (authorization or "").removeprefix(BEARER).strip()
        if not presented:
            raise TokenError("issuer_token_missing", "an issuer token is required (Authorization: Bearer <issuer "
                             "token>, one of WARDEN_PROXY_ISSUER_TOKENS): agents cannot mint their own run tokens")
        for who, token in self.tokens.items():
            if hmac.compare_digest(presented.encode(), token.encode()):
                return who
        raise TokenError("issuer_token_unknown", "the issuer token sent is not recognised: it is none of "
                         "WARDEN_PROXY_ISSUER_TOKENS (a run token cannot mint or revoke tokens)")

    def may_act_for(self, who: str, tenant: str | None) -> None:
        """An issuer mints and revokes only for its own tenants; ``None``: a tenant not known (token id)."""
        allowed = self.tenants.get(who, frozenset())
        if "*" in allowed or (tenant is not None and tenant in allowed):
            return
        if tenant is None:
            raise TokenError("issuer_tenant", f"issuer {who} may act only for tenants {sorted(allowed)}: revoke by "
                             "the token itself or by tenant and run, not by a bare token id", 403)
        raise TokenError("issuer_tenant", f"issuer {who} may not act for tenant {tenant!r}: its tenants are "
                         f"{sorted(allowed)} (WARDEN_PROXY_ISSUER_TENANTS)", 403)


def issue(proxy: ToolProxy, who: str, tenant_id: str, workflow: str, run_id: str, agent_id: str,
          ttl_s: float | None) -> tuple[str, TokenClaims]:
    settings = proxy.settings
    token, claims = mint(proxy.keyring, proxy.bundle, tenant_id, workflow, run_id, agent_id,
                         settings.proxy_token_ttl_s if ttl_s is None else ttl_s, time.time())
    proxy.emitter.emit(topics.PROXY_CALLS, run_id, p.token_record(
        ProxyCallKind.TOKEN_ISSUED, claims, datetime.now(UTC), who, settings.proxy_replica,
        f"issued by {who}, expires {datetime.fromtimestamp(claims.expires_at, UTC):%Y-%m-%dT%H:%M:%SZ}"))
    return token, claims


def revoke(proxy: ToolProxy, who: str, key: str, reason: str, claims: TokenClaims | None) -> None:
    now = time.time()
    # Until the revoked token could have expired: at least the longest lifetime from now, and never
    # before the token's own expiry (a token minted with a later clock outlives now + MAX_TTL_S).
    proxy.store.revoke(key, max(now + MAX_TTL_S, claims.expires_at if claims else 0.0), now)
    record = ProxyCall(
        proxy_call_id=str(uuid.uuid4()), kind=ProxyCallKind.TOKEN_REVOKED, at=datetime.now(UTC),
        tenant_id=claims.tenant_id if claims else None, workflow=claims.workflow if claims else None,
        run_id=claims.run_id if claims else None, tool="*", action="*",
        token_id=claims.token_id if claims else key.removeprefix("token:"), outcome=ProxyOutcome.ALLOWED,
        status_code=200, reason_code="token_revoked", reason=f"{key} revoked by {who}: {reason}",
        upstream_called=False, latency_ms=0.0, actor=who, replica=proxy.settings.proxy_replica)
    proxy.emitter.emit(topics.PROXY_CALLS, claims.run_id if claims else "unscoped", record)


def token_router(proxy: ToolProxy) -> APIRouter:
    router = APIRouter()
    issuers = Issuers(proxy)

    def issuer(authorization: str | None = Header(None)) -> str:
        return issuers.identify(authorization)

    who_is = Depends(issuer)  # a default, not an annotation: annotations are strings in this module

    @router.post("/v1/tokens")
    def issue_token(body: TokenRequest, who: str = who_is) -> dict[str, Any]:
        issuers.may_act_for(who, body.tenant)
        try:
            token, claims = issue(proxy, who, body.tenant, body.workflow, body.run, body.agent_id, body.ttl_s)
        except TokenError:
            raise
        except WardenError as exc:
            raise TokenError("unavailable", str(exc), 503) from exc
        return {"token": token, "token_id": claims.token_id, "tenant": claims.tenant_id,
                "workflow": claims.workflow, "run": claims.run_id, "agent_id": claims.agent_id,
                "tools": sorted(claims.tools), "expires_at": claims.expires_at, "key_id": claims.key_id}

    @router.post("/v1/tokens/revoke")
    def revoke_token(body: RevokeRequest, who: str = who_is) -> dict[str, Any]:
        claims: TokenClaims | None = None
        if body.token:
            try:
                claims = proxy.keyring.verify(body.token, 0)  # any age: revoking an expired token is harmless
            except TokenError as exc:
                raise TokenError(exc.code, str(exc), 422) from exc
            key = f"token:{claims.token_id}"
            issuers.may_act_for(who, claims.tenant_id)
        elif body.token_id:
            key = f"token:{body.token_id}"
            issuers.may_act_for(who, None)
        elif body.tenant and body.run:
            key = f"run:{body.tenant}/{body.run}"
            issuers.may_act_for(who, body.tenant)
        else:
            raise TokenError("revoke_target_missing", "give the token, its token_id, or tenant and run", 422)
        try:
            revoke(proxy, who, key, body.reason, claims)
        except WardenError as exc:
            raise TokenError("unavailable", str(exc), 503) from exc
        return {"revoked": key, "by": who}

    return router
