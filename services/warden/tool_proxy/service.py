"""The tool-proxy shell: FastAPI in front, Kafka (events, switches, approvals) and the upstreams behind.

Agents call ``POST /v1/tools/{tool}/{action}`` with their run token; agent platforms mint and
revoke run tokens at ``/v1/tokens``. The checks themselves are processor.py; this file holds the
I/O: token cache and store look-ups, the shared switches view, the approval wait, the upstream
HTTP call with the real secret, and the records every call leaves (two AgentEvents for a call
whose token was trusted, one ProxyCall for every request). A record that cannot be queued for
Kafka refuses the call (503): nothing is proxied without leaving a trace.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from warden.core import jsontext, topics
from warden.core.errors import ConfigError, WardenError
from warden.core.events import AgentEvent, ToolStatus
from warden.core.records import ApprovalOutcome, Decision, PolicyDecision, ProxyCall, ProxyCallKind, ProxyOutcome
from warden.core.wire import Wire, wire_for
from warden.policy.bundle import BundleWatcher
from warden.policy.control import ControlView
from warden.policy.switches import Switches
from warden.runtime import clients, configs
from warden.tool_proxy import processor as p
from warden.tool_proxy.access import AccessWatcher
from warden.tool_proxy.approvals_wait import ApprovalFollower
from warden.tool_proxy.inventory import ActionSpec, Inventory, load_inventory
from warden.tool_proxy.limits import Store, StoreUnavailableError, open_store
from warden.tool_proxy.settings import ToolProxySettings
from warden.tool_proxy.tokens import MAX_TTL_S, Keyring, TokenClaims, TokenError

log = logging.getLogger("warden.tool_proxy")
# `call_id` is the agent's own reference, echoed back as client_call_id; the proxy names every call itself
# (an agent-chosen id could replay a past approval or collide in the ledger). `step` is accepted for
# compatibility and ignored: the proxy numbers a run's steps itself.
_ENVELOPE = {"input", "resource", "step", "call_id", "approval_timeout_s"}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def keyring_for(settings: ToolProxySettings) -> Keyring:
    return Keyring({kid: key.get_secret_value() for kid, key in settings.proxy_signing_keys.items()},
                   settings.proxy_signing_key_id)


def mint(keyring: Keyring, watcher: BundleWatcher, tenant_id: str, workflow: str, run_id: str, agent_id: str,
         ttl_s: float, now: float) -> tuple[str, TokenClaims]:
    """A token for one run, scoped to the workflow's tool inventory in the policy bundle."""
    tools = watcher.bundle.workflows.get(workflow)
    if tools is None:
        raise TokenError("unknown_workflow", f"workflow {workflow!r} is not in the policy bundle's workflows.toml "
                                             f"(known: {', '.join(sorted(watcher.bundle.workflows))})", 422)
    return keyring.issue(tenant_id=tenant_id, workflow=workflow, run_id=run_id, agent_id=agent_id,
                         tools=tools.tools, now=now, ttl_s=ttl_s)


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class ToolProxy:
    def __init__(self, settings: ToolProxySettings, switches: Switches | None = None) -> None:
        """``switches``: a fixed view for tests of the pure path; by default the control topic is followed."""
        self.settings = settings
        self.inventory: Inventory = load_inventory(settings.proxy_inventory)
        self.keyring = keyring_for(settings)
        self.store: Store = open_store(settings.proxy_shared_store)
        self.access = AccessWatcher(settings.proxy_access_lists, settings.proxy_reload_interval_s)
        self.bundle = BundleWatcher(settings.policies_dir)
        self.secrets = {name: s.get_secret_value() for name, s in settings.proxy_upstream_secrets.items()}
        self.issuers = {who: t.get_secret_value() for who, t in settings.proxy_issuer_tokens.items()}
        self.issuer_tenants = {who: frozenset(tenants) for who, tenants in settings.proxy_issuer_tenants.items()}
        self.wire: Wire = wire_for(settings)
        self.state = p.ProxyState()
        self.lock = threading.Lock()
        self._control = ControlView(settings) if switches is None else None
        self.state.evaluator.switches = self._control.switches if self._control else (switches or Switches())
        self.approvals = ApprovalFollower(settings)
        self.producer = clients.raw_producer(configs.producer_config(
            settings, linger_ms=5, **{"queue.buffering.max.messages": 200_000}))
        self.undelivered = 0
        self._tokens: OrderedDict[str, TokenClaims] = OrderedDict()
        self._last_bundle_check = time.monotonic()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="tool-proxy-producer", daemon=True)
        self._poller.start()
        self.http: aiohttp.ClientSession | None = None
        missing = sorted(self.inventory.secrets - set(self.secrets))
        if missing:
            log.warning("no upstream secret configured for %s (WARDEN_PROXY_UPSTREAM_SECRETS): calls to those "
                        "tools are refused with 503", ", ".join(missing))
        if not self.keyring.keys:
            log.warning("no token signing keys (WARDEN_PROXY_SIGNING_KEYS): every call is refused with 401")
        if not settings.proxy_shared_store:
            log.warning("no shared store (WARDEN_PROXY_SHARED_STORE): rate limits and token revocations hold in "
                        "this process only; with several replicas a revoked token still works on the others")
        unmapped = sorted(set(self.issuers) - set(self.issuer_tenants))
        if unmapped:
            log.warning("issuers %s have no tenants in WARDEN_PROXY_ISSUER_TENANTS: they can mint no tokens",
                        ", ".join(unmapped))

    # ---- records -------------------------------------------------------------------------------------

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.undelivered += 1
            log.error("record for %s not delivered: %s", msg.topic(), err)

    def emit(self, topic: str, key: str, record: BaseModel) -> None:
        try:
            self.producer.produce(self.settings.topic(topic), self.wire.encode(record), key=key.encode(),
                                  on_delivery=self._delivered)
        except BufferError as exc:
            raise WardenError("the proxy's record queue to Kafka is full; refusing calls until it drains") from exc

    # ---- tokens --------------------------------------------------------------------------------------

    async def verify(self, authorization: str | None, now: float) -> TokenClaims:
        """The token's claims; the revocation look-up runs off the event loop (SQLite may wait for its lock)."""
        claims = self._claims(authorization, now)
        keys = [f"token:{claims.token_id}", f"run:{claims.tenant_id}/{claims.run_id}"]
        if await asyncio.to_thread(self.store.revoked, keys, now):
            raise TokenError("token_revoked", f"token {claims.token_id} (run {claims.run_id}) was revoked")
        return claims

    def _claims(self, authorization: str | None, now: float) -> TokenClaims:
        if not authorization or not authorization.startswith("Bearer "):
            raise TokenError("token_missing", "a run token is required: Authorization: Bearer <run token> "
                                              "(mint one with `warden token issue` or POST /v1/tokens)")
        token = authorization.removeprefix("Bearer ").strip()
        claims = self._tokens.get(token)
        if claims is None:
            claims = self.keyring.verify(token, now)
            self._tokens[token] = claims
            while len(self._tokens) > 50_000:
                self._tokens.popitem(last=False)
        elif now >= claims.expires_at:
            self._tokens.pop(token, None)
            claims = self.keyring.verify(token, now)  # raises with the precise reason
        return claims

    def issuer(self, authorization: str | None) -> str:
        presented = (authorization or "").removeprefix("Bearer ").strip()
        if not presented:
            raise HTTPException(401, "an issuer token is required (Authorization: Bearer <issuer token>, one of "
                                     "WARDEN_PROXY_ISSUER_TOKENS): agents cannot mint their own run tokens")
        for who, token in self.issuers.items():
            if hmac.compare_digest(presented.encode(), token.encode()):
                return who
        raise HTTPException(401, "the issuer token sent is not recognised: it is none of "
                                 "WARDEN_PROXY_ISSUER_TOKENS (a run token cannot mint or revoke tokens)")

    def may_act_for(self, who: str, tenant: str | None) -> None:
        """An issuer mints and revokes only for its own tenants; ``None``: a tenant not known (token id)."""
        allowed = self.issuer_tenants.get(who, frozenset())
        if "*" in allowed or (tenant is not None and tenant in allowed):
            return
        if tenant is None:
            raise HTTPException(403, {"error": "issuer_tenant", "reason": f"issuer {who} may act only for tenants "
                                      f"{sorted(allowed)}: revoke by the token itself or by tenant and run, "
                                      "not by a bare token id"})
        raise HTTPException(403, {"error": "issuer_tenant", "reason": f"issuer {who} may not act for tenant "
                                  f"{tenant!r}: its tenants are {sorted(allowed)} (WARDEN_PROXY_ISSUER_TENANTS)"})

    def issue(self, who: str, tenant_id: str, workflow: str, run_id: str, agent_id: str,
              ttl_s: float | None) -> tuple[str, TokenClaims]:
        now = time.time()
        token, claims = mint(self.keyring, self.bundle, tenant_id, workflow, run_id, agent_id,
                             self.settings.proxy_token_ttl_s if ttl_s is None else ttl_s, now)
        self.emit(topics.PROXY_CALLS, run_id, p.token_record(
            ProxyCallKind.TOKEN_ISSUED, claims, datetime.now(UTC), who, self.settings.proxy_replica,
            f"issued by {who}, expires {datetime.fromtimestamp(claims.expires_at, UTC):%Y-%m-%dT%H:%M:%SZ}"))
        return token, claims

    def revoke(self, who: str, key: str, reason: str, claims: TokenClaims | None) -> None:
        now = time.time()
        # Until the revoked token could have expired: at least the longest lifetime from now, and never
        # before the token's own expiry (a token minted with a later clock outlives now + MAX_TTL_S).
        self.store.revoke(key, max(now + MAX_TTL_S, claims.expires_at if claims else 0.0), now)
        record = ProxyCall(
            proxy_call_id=str(uuid.uuid4()), kind=ProxyCallKind.TOKEN_REVOKED, at=datetime.now(UTC),
            tenant_id=claims.tenant_id if claims else None, workflow=claims.workflow if claims else None,
            run_id=claims.run_id if claims else None, tool="*", action="*",
            token_id=claims.token_id if claims else key.removeprefix("token:"), outcome=ProxyOutcome.ALLOWED,
            status_code=200, reason_code="token_revoked", reason=f"{key} revoked by {who}: {reason}",
            upstream_called=False, latency_ms=0.0, actor=who, replica=self.settings.proxy_replica)
        self.emit(topics.PROXY_CALLS, claims.run_id if claims else "unscoped", record)

    # ---- a call --------------------------------------------------------------------------------------

    def _reload(self) -> None:
        if time.monotonic() - self._last_bundle_check >= self.settings.proxy_reload_interval_s:
            self._last_bundle_check = time.monotonic()
            if self.bundle.check():
                log.info("policy bundle reloaded: version %s", self.bundle.bundle.version)

    async def call(self, tool: str, action: str, authorization: str | None, raw: bytes) -> Reply:
        started = time.perf_counter()
        now, at = time.time(), datetime.now(UTC)
        self._reload()
        try:
            claims = await self.verify(authorization, now)
        except (TokenError, StoreUnavailableError) as exc:
            if isinstance(exc, TokenError):
                refusal = p.Refusal(exc.status, exc.code, str(exc))
                headers = {"WWW-Authenticate": f'Bearer error="{exc.code}"'}
            else:
                refusal, headers = p.Refusal(503, "store_unavailable", f"{exc}; the call was refused"), {}
            try:
                self.emit(topics.PROXY_CALLS, "unscoped", p.proxy_call(
                    at=at, tool=tool, action=action, refusal=refusal, latency_ms=_ms(started),
                    replica=self.settings.proxy_replica))
            except WardenError as emit_exc:
                return Reply(503, p.Refusal(503, "ledger_unavailable", str(emit_exc)).body(), {})
            return Reply(refusal.status, refusal.body(), headers)
        return await self._scoped(claims, tool, action, raw, started, at, now)

    async def _scoped(self, claims: TokenClaims, tool: str, action: str, raw: bytes, started: float,
                      at: datetime, now: float) -> Reply:
        envelope, refusal = _envelope(raw)
        call_id = str(uuid.uuid4())
        client_ref = envelope.get("call_id") if isinstance(envelope.get("call_id"), str) else None
        value = envelope.get("input")
        spec: ActionSpec | None = None
        if refusal is None:
            refusal = p.scope_refusal(claims, self.inventory, tool, action)
        if refusal is None:
            spec = self.inventory.action(tool, action)
            assert spec is not None
            refusal = p.access_refusal(self.access.current(), claims, tool, action)
        if refusal is None and spec is not None:
            try:
                taken = await asyncio.to_thread(self.store.take, p.buckets(self.inventory.tools[tool], claims), now)
            except StoreUnavailableError as exc:
                refusal = p.Refusal(503, "store_unavailable", f"{exc}; the call was refused")
            else:
                if not taken.ok:
                    refusal = p.Refusal(429, "rate_limited", f"rate limit {taken.bucket} reached; retry in "
                                                             f"{taken.retry_after_s:.2f} s",
                                        retry_after=taken.retry_after_header)
        if refusal is None and spec is not None:
            refusal = p.input_refusal(spec, value)
        if refusal is not None and refusal.code != "token_scope":
            # Refused before policy: a ProxyCall record only. A tool_call_requested would make the stream
            # evaluator decide (and maybe ask a human to approve) a call that will never run. An
            # out-of-scope tool is the exception: that attempt is what stop-ship and alerts are for.
            return self._refused_early(claims, tool, action, call_id, client_ref, refusal, started, at)
        with self.lock:  # the proxy numbers the run's steps; an agent-sent step is ignored
            step_no = self.state.next_step(claims)
        params_out, _, param_counts = p.redacted(p.params_text(value), None,
                                                 redact_params=self.settings.redact_params is not False)
        requested = p.requested_event(claims, call_id, tool, action, envelope.get("resource"), params_out,
                                      step_no, at)
        outcome = _Outcome(requested, param_counts, client_ref)
        try:
            self.emit(topics.AGENT_EVENTS, claims.run_id, requested)
        except WardenError as exc:
            return Reply(503, _ref(p.Refusal(503, "ledger_unavailable", str(exc)).body(call_id), client_ref), {})
        bundle = self.bundle.bundle
        if refusal is None:
            refusal = p.switch_refusal(self.state.evaluator.switches, bundle, self.inventory, claims, tool, action)
        if refusal is None:
            with self.lock:
                outcome.decision, extra = p.decide(self.state, bundle, requested)
            try:
                for out in extra:
                    if out.topic == topics.CONTROL:  # a stop-ship switch: every replica and the evaluator see it
                        self.emit(out.topic, out.key, out.record)
            except WardenError as exc:
                return self._finish(claims, tool, action, outcome, p.Refusal(503, "ledger_unavailable", str(exc)),
                                    started, error=True)
            refusal = p.policy_refusal(outcome.decision)
            if refusal is None and outcome.decision.decision == Decision.REQUIRE_APPROVAL:
                refusal = await self._approval(outcome.decision, envelope.get("approval_timeout_s"))
        if refusal is not None or spec is None:
            assert refusal is not None
            return self._finish(claims, tool, action, outcome, refusal, started, error=False)
        return await self._upstream(claims, spec, value, outcome, started)

    def _refused_early(self, claims: TokenClaims, tool: str, action: str, call_id: str, client_ref: str | None,
                       refusal: p.Refusal, started: float, at: datetime) -> Reply:
        try:
            self.emit(topics.PROXY_CALLS, claims.run_id, p.proxy_call(
                at=at, tool=tool, action=action, refusal=refusal, latency_ms=_ms(started),
                replica=self.settings.proxy_replica, claims=claims, call_id=call_id))
        except WardenError as exc:
            return Reply(503, _ref(p.Refusal(503, "ledger_unavailable", str(exc)).body(call_id), client_ref), {})
        headers = {"Retry-After": refusal.retry_after} if refusal.retry_after else {}
        return Reply(refusal.status, _ref(refusal.body(call_id), client_ref), {**headers, "X-Warden-Call-Id": call_id})

    async def _approval(self, decision: PolicyDecision, asked: Any) -> p.Refusal | None:
        timeout = self.settings.proxy_approval_timeout_s
        if isinstance(asked, (int, float)) and not isinstance(asked, bool) and asked > 0:
            timeout = min(timeout, float(asked))
        future = self.approvals.expect(decision.call_id, decision.run_id)
        try:
            self.emit(topics.APPROVAL_REQUESTS, decision.run_id, decision)
        except WardenError as exc:
            self.approvals.forget(decision.call_id)
            return p.Refusal(503, "ledger_unavailable", f"{exc}; the approval request was not sent")
        self.producer.poll(0)
        try:
            approval = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.approvals.forget(decision.call_id)
            return p.Refusal(403, "approval_timeout", f"{decision.reason}; no approval within {timeout:g} s, "
                                                      f"denied (call {decision.call_id} stays pending until the "
                                                      "approvals service expires it)")
        if approval.decision == ApprovalOutcome.APPROVED:
            return None
        return p.Refusal(403, f"approval_{approval.decision.value}",
                         f"{approval.decision.value} by {approval.approver}: {approval.rationale}")

    async def _upstream(self, claims: TokenClaims, spec: ActionSpec, value: Any, outcome: _Outcome,
                        started: float) -> Reply:
        tool = self.inventory.tools[spec.tool]
        secret = self.secrets.get(tool.secret) if tool.secret else None
        if tool.secret and secret is None:
            refusal = p.Refusal(503, "upstream_secret_missing", f"the proxy holds no secret {tool.secret!r} for "
                                                                f"{spec.tool}; the upstream was not called")
            return self._finish(claims, spec.tool, spec.name, outcome, refusal, started, error=True)
        headers = {"X-Warden-Tenant": claims.tenant_id, "X-Warden-Run": claims.run_id,
                   "X-Warden-Call-Id": outcome.requested_call_id}
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        assert self.http is not None, "the app's lifespan opens the upstream client"
        headers["Content-Type"] = "application/json"
        up_started = time.perf_counter()
        outcome.upstream_called = True
        try:
            async with self.http.post(f"{tool.upstream_url}{spec.path}", data=json.dumps(value).encode(),
                                      headers=headers, timeout=aiohttp.ClientTimeout(total=tool.timeout_s),
                                      allow_redirects=False) as response:
                status, raw = response.status, await response.read()
        except TimeoutError:
            outcome.upstream_ms = _ms(up_started)
            return self._finish(claims, spec.tool, spec.name, outcome, p.Refusal(
                504, "upstream_timeout", f"{spec.qualified} upstream did not answer within {tool.timeout_s:g} s"),
                started, error=True)
        except aiohttp.ClientError as exc:
            outcome.upstream_ms = _ms(up_started)
            return self._finish(claims, spec.tool, spec.name, outcome, p.Refusal(
                502, "upstream_unreachable", f"{spec.qualified} upstream failed: {type(exc).__name__}"),
                started, error=True)
        outcome.upstream_ms = _ms(up_started)
        outcome.upstream_status = status
        if status >= 300:
            return self._finish(claims, spec.tool, spec.name, outcome, p.Refusal(
                502, "upstream_error", f"{spec.qualified} upstream answered HTTP {status}"),
                started, error=True)
        text = self._strip_secrets(raw.decode("utf-8", errors="replace"))
        try:
            output = self._strip_secrets_in(json.loads(text, parse_constant=_no_constants))
        except ValueError:
            return self._finish(claims, spec.tool, spec.name, outcome, p.Refusal(
                502, "output_invalid", f"{spec.qualified} upstream answered text that is not JSON"),
                started, error=True)
        invalid = p.output_refusal(spec, output)
        if invalid is not None:
            return self._finish(claims, spec.tool, spec.name, outcome, invalid, started, error=True)
        outcome.output = output
        return self._finish(claims, spec.tool, spec.name, outcome, None, started, error=False)

    def _strip_secrets(self, text: str) -> str:
        """The agent never sees an upstream secret, even one an upstream echoes back."""
        for secret in self.secrets.values():
            if secret and secret in text:
                text = text.replace(secret, "[REDACTED:secret]")
        return text

    def _strip_secrets_in(self, value: Any) -> Any:
        """Again after parsing: a JSON escape (``\\u0030`` for ``0``) hides a secret from the raw-text pass."""
        if isinstance(value, str):
            return self._strip_secrets(value)
        if isinstance(value, list):
            return [self._strip_secrets_in(v) for v in value]
        if isinstance(value, dict):
            return {self._strip_secrets(k): self._strip_secrets_in(v) for k, v in value.items()}
        return value

    def _finish(self, claims: TokenClaims, tool: str, action: str, outcome: _Outcome, refusal: p.Refusal | None,
                started: float, error: bool) -> Reply:
        at = datetime.now(UTC)
        latency = _ms(started)
        output_text = json.dumps(outcome.output, ensure_ascii=False) if refusal is None else None
        _, output_out, counts = p.redacted("{}", output_text, redact_outputs=self.settings.redact_outputs)
        for kind, n in outcome.param_counts.items():
            counts[kind] = counts.get(kind, 0) + n
        status = ToolStatus.OK if refusal is None else (ToolStatus.ERROR if error else ToolStatus.DENIED)
        completed = p.completed_event(outcome.requested, status, refusal.code if refusal else None, latency,
                                      output_out, at)
        record = p.proxy_call(
            at=at, tool=tool, action=action, refusal=refusal, latency_ms=latency, replica=self.settings.proxy_replica,
            claims=claims, call_id=outcome.requested_call_id, event_id=outcome.requested.event_id,
            decision=outcome.decision, upstream_called=outcome.upstream_called,
            upstream_status=outcome.upstream_status, upstream_latency_ms=outcome.upstream_ms, redactions=counts,
            error=error)
        try:
            self.emit(topics.AGENT_EVENTS, claims.run_id, completed)
            self.emit(topics.PROXY_CALLS, claims.run_id, record)
        except WardenError as exc:
            log.error("call %s finished but its records were not queued: %s", outcome.requested_call_id, exc)
        call_id = outcome.requested_call_id
        if refusal is not None:
            headers = {"Retry-After": refusal.retry_after} if refusal.retry_after else {}
            return Reply(refusal.status, _ref(refusal.body(call_id), outcome.client_ref),
                         {**headers, "X-Warden-Call-Id": call_id})
        decision = outcome.decision
        return Reply(200, _ref({"call_id": call_id, "output": outcome.output,
                                "decision": decision.decision.value if decision else None,
                                "policy_ids": decision.policy_ids if decision else []}, outcome.client_ref),
                     {"X-Warden-Call-Id": call_id})

    def close(self) -> None:
        self._stop.set()
        self._poller.join(5)
        self.producer.flush(10)
        self.approvals.close()
        if self._control is not None:
            self._control.close()
        self.store.close()


class _Outcome:
    """What one call gathered on its way, for the records it leaves."""

    def __init__(self, requested: AgentEvent, param_counts: dict[str, int], client_ref: str | None) -> None:
        self.requested = requested
        self.client_ref = client_ref
        self.param_counts = param_counts
        self.decision: PolicyDecision | None = None
        self.upstream_called = False
        self.upstream_status: int | None = None
        self.upstream_ms: float | None = None
        self.output: Any = None

    @property
    def requested_call_id(self) -> str:
        return str(getattr(self.requested.body, "call_id", ""))


def _ref(body: dict[str, Any], client_ref: str | None) -> dict[str, Any]:
    """The agent's own call id comes back as a reference only; ``call_id`` is always the proxy's."""
    return {**body, "client_call_id": client_ref} if client_ref is not None else body


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0


def _envelope(raw: bytes) -> tuple[dict[str, Any], p.Refusal | None]:
    """The request body: {"input": {...}, "resource"?, "step"?, "call_id"?, "approval_timeout_s"?}."""
    try:
        # The strict reader of warden.core.jsontext: a duplicate key, NaN or nesting past the limit is a 400,
        # never a parser differential or a RecursionError (500).
        data = jsontext.loads(raw.decode("utf-8") if raw else "null", "the request body", "record_bytes")
    except (ValueError, UnicodeDecodeError) as exc:
        return {}, p.Refusal(400, "body_invalid", f"the request body is not JSON: {exc}")
    if not isinstance(data, dict):
        return {}, p.Refusal(400, "body_invalid", 'the request body must be a JSON object {"input": {...}}')
    unknown = sorted(set(data) - _ENVELOPE)
    if unknown:
        return data, p.Refusal(400, "body_invalid", f"unknown field{'s' if len(unknown) > 1 else ''} "
                                                    f"{', '.join(unknown)} in the request (allowed: "
                                                    f"{', '.join(sorted(_ENVELOPE))}); the tool's input goes in "
                                                    "`input`")
    if "input" not in data:
        return data, p.Refusal(400, "body_invalid", 'the request needs the tool\'s input as {"input": {...}}')
    for name, kind in (("resource", str), ("call_id", str)):
        if data.get(name) is not None and not isinstance(data[name], kind):
            return {k: v for k, v in data.items() if k != name}, p.Refusal(
                400, "body_invalid", f"{name} must be a string, got {data[name]!r:.60}")
    return data, None


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


def create_app(proxy: ToolProxy) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # aiohttp, not httpx: httpx's async client cost about 0.6 ms per upstream call here (benchmarks/proxy.py).
        proxy.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200, limit_per_host=100),
                                           auto_decompress=True)
        try:
            yield
        finally:
            await proxy.http.close()

    app = FastAPI(title="Warden tool proxy", version="0.1.0", lifespan=lifespan)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "inventory": proxy.inventory.version, "policy_version": proxy.bundle.bundle.version,
                "access_lists": proxy.access.lists.version, "undelivered_records": proxy.undelivered,
                "store": proxy.store.mode, "shared_store": proxy.store.mode != "memory"}

    async def call_tool(request: Request) -> JSONResponse:
        """A plain Starlette route: FastAPI's parameter resolution is measurable on the hot path."""
        params = request.path_params
        reply = await proxy.call(params["tool"], params["action"], request.headers.get("authorization"),
                                 await request.body())
        return JSONResponse(reply.body, reply.status, reply.headers)

    app.router.add_route("/v1/tools/{tool}/{action}", call_tool, methods=["POST"])

    @app.post("/v1/tokens")
    def issue(body: TokenRequest, authorization: str | None = Header(None)) -> dict[str, Any]:
        who = proxy.issuer(authorization)
        proxy.may_act_for(who, body.tenant)
        try:
            token, claims = proxy.issue(who, body.tenant, body.workflow, body.run, body.agent_id, body.ttl_s)
        except TokenError as exc:
            raise HTTPException(exc.status, {"error": exc.code, "reason": str(exc)}) from exc
        except WardenError as exc:
            raise HTTPException(503, str(exc)) from exc
        return {"token": token, "token_id": claims.token_id, "tenant": claims.tenant_id,
                "workflow": claims.workflow, "run": claims.run_id, "agent_id": claims.agent_id,
                "tools": sorted(claims.tools), "expires_at": claims.expires_at, "key_id": claims.key_id}

    @app.post("/v1/tokens/revoke")
    def revoke(body: RevokeRequest, authorization: str | None = Header(None)) -> dict[str, Any]:
        who = proxy.issuer(authorization)
        claims: TokenClaims | None = None
        if body.token:
            try:
                claims = proxy.keyring.verify(body.token, 0)  # any age: revoking an expired token is harmless
            except TokenError as exc:
                raise HTTPException(422, {"error": exc.code, "reason": str(exc)}) from exc
            key = f"token:{claims.token_id}"
            proxy.may_act_for(who, claims.tenant_id)
        elif body.token_id:
            key = f"token:{body.token_id}"
            proxy.may_act_for(who, None)
        elif body.tenant and body.run:
            key = f"run:{body.tenant}/{body.run}"
            proxy.may_act_for(who, body.tenant)
        else:
            raise HTTPException(422, "give the token, its token_id, or tenant and run")
        try:
            proxy.revoke(who, key, body.reason, claims)
        except WardenError as exc:
            raise HTTPException(503, str(exc)) from exc
        return {"revoked": key, "by": who}

    return app


def run_service(settings: ToolProxySettings, stop: threading.Event) -> None:
    import uvicorn

    try:
        proxy = ToolProxy(settings)
    except TokenError as exc:
        raise ConfigError(str(exc)) from exc
    server = uvicorn.Server(uvicorn.Config(create_app(proxy), host=settings.proxy_host, port=settings.proxy_port,
                                           log_level="warning", access_log=False))

    def stop_server() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=stop_server, daemon=True).start()
    log.info("tool-proxy on %s:%s: inventory %s, bundle %s, %s", settings.proxy_host, settings.proxy_port,
             proxy.inventory.version, proxy.bundle.bundle.version,
             "shared limits " + settings.proxy_shared_store if settings.proxy_shared_store else "per-process limits")
    try:
        server.run()
    finally:
        proxy.close()
