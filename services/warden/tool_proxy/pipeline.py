"""One tool call through the proxy's checks, in order, and the records it leaves.

The checks are the list ``CHECKS``, run top to bottom by ``run``; the first refusal ends the call.
Both doors into the proxy call it: the HTTP route (``POST /v1/tools/{tool}/{action}``) and the MCP
gateway's ``tools/call``, so an agent meets the same rules and leaves the same rows either way.

What a refusal leaves depends on how far the call got (``Trace``):
- before the token is trusted: one ProxyCall without a run;
- refused before policy (request, lists, limits, schema): one ProxyCall. A tool_call_requested
  would make the stream evaluator decide (and maybe ask a human to approve) a call that will
  never run. An out-of-scope tool is the exception: that attempt is what stop-ship and alerts
  are for, so it opens the call's events;
- from the switches on: tool_call_requested, tool_call_completed and a ProxyCall.
A record that cannot be queued refuses the call (503): nothing is proxied without leaving a trace.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from warden.core import topics
from warden.core.errors import WardenError
from warden.core.events import AgentEvent, ToolStatus
from warden.core.records import ApprovalDecision, ApprovalOutcome, Decision, PolicyDecision
from warden.tool_proxy import processor as p
from warden.tool_proxy.inventory import ActionSpec
from warden.tool_proxy.limits import StoreUnavailableError
from warden.tool_proxy.processor import Refusal
from warden.tool_proxy.tokens import TokenClaims, TokenError
from warden.tool_proxy.upstream import Leg, ms

if TYPE_CHECKING:
    from warden.tool_proxy.proxy import ToolProxy

log = logging.getLogger("warden.tool_proxy")


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    # The call's closing records (tool_call_completed, ProxyCall), when the door queues them once it has
    # answered (run's defer_records): building and encoding them is a fifth of a call's cost.
    records: Callable[[], None] | None = None

    def emit_records(self) -> None:
        """Queue the deferred records (once; a door calls this in a ``finally`` after answering)."""
        records, self.records = self.records, None
        if records is not None:
            records()


@dataclass
class Call:
    """One call: what the agent asked, and what the checks gathered on the way (for its records)."""

    tool: str
    action: str
    authorization: str | None
    value: Any = None
    resource: str | None = None
    client_ref: str | None = None  # the agent's own call id, echoed back as client_call_id
    invalid: Refusal | None = None  # the request itself did not parse (the HTTP route's body)
    approval_timeout_s: Any = None  # what the agent asked for; the setting caps it
    suspend_after_s: float | None = None  # MCP 2026-07-28: hand an approval wait back after this long
    # The proxy names every call itself: an agent-chosen id could replay a past approval or collide.
    call_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.perf_counter)
    now: float = field(default_factory=time.time)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    headers: dict[str, str] = field(default_factory=dict)  # extra reply headers (WWW-Authenticate)
    claims: TokenClaims | None = None
    spec: ActionSpec | None = None
    requested: AgentEvent | None = None
    param_counts: dict[str, int] = field(default_factory=dict)
    decision: PolicyDecision | None = None
    leg: Leg = field(default_factory=Leg)
    approval: asyncio.Future[ApprovalDecision] | None = None
    approval_deadline: float = 0.0  # time.monotonic()
    approval_timeout: float = 0.0


class ApprovalPending(Exception):
    """The call waits for a human and was asked to hand the wait back (MCP ``input_required``)."""

    def __init__(self, call: Call) -> None:
        super().__init__(f"call {call.call_id} waits for approval")
        self.call = call


class Trace(Enum):
    UNSCOPED = "unscoped"
    EARLY = "early"
    EVENTS = "events"


CheckFn = Callable[["ToolProxy", Call], Awaitable[Refusal | None]]


@dataclass(frozen=True)
class Check:
    name: str
    run: CheckFn
    trace: Trace
    opens_events_on: frozenset[str] = frozenset()  # refusal codes that leave the call's events all the same

    def trace_of(self, refusal: Refusal) -> Trace:
        return Trace.EVENTS if refusal.code in self.opens_events_on else self.trace


def _claims(call: Call) -> TokenClaims:
    assert call.claims is not None, "the token check runs first"
    return call.claims


def _spec(call: Call) -> ActionSpec:
    assert call.spec is not None, "the scope check runs first"
    return call.spec


async def check_token(proxy: ToolProxy, call: Call) -> Refusal | None:
    try:
        call.claims = await proxy.verify(call.authorization, call.now)
    except TokenError as exc:
        call.headers["WWW-Authenticate"] = f'Bearer error="{exc.code}"'
        return Refusal(exc.status, exc.code, str(exc))
    except StoreUnavailableError as exc:
        return Refusal(503, "store_unavailable", f"{exc}; the call was refused")
    return None


async def check_request(proxy: ToolProxy, call: Call) -> Refusal | None:
    return call.invalid


async def check_scope(proxy: ToolProxy, call: Call) -> Refusal | None:
    refusal = p.scope_refusal(_claims(call), proxy.inventory, call.tool, call.action)
    if refusal is None:
        call.spec = proxy.inventory.action(call.tool, call.action)
    return refusal


async def check_lists(proxy: ToolProxy, call: Call) -> Refusal | None:
    return p.access_refusal(proxy.access.current(), _claims(call), call.tool, call.action)


async def check_rate_limits(proxy: ToolProxy, call: Call) -> Refusal | None:
    buckets = p.buckets(proxy.inventory.tools[call.tool], _claims(call))
    try:  # off the event loop when the store may wait (SQLite's lock)
        taken = await proxy.in_store(proxy.store.take, buckets, call.now)
    except StoreUnavailableError as exc:
        return Refusal(503, "store_unavailable", f"{exc}; the call was refused")
    if taken.ok:
        return None
    return Refusal(429, "rate_limited", f"rate limit {taken.bucket} reached; retry in {taken.retry_after_s:.2f} s",
                   retry_after=taken.retry_after_header)


async def check_input_schema(proxy: ToolProxy, call: Call) -> Refusal | None:
    return p.input_refusal(_spec(call), call.value)


async def check_switches(proxy: ToolProxy, call: Call) -> Refusal | None:
    return p.switch_refusal(proxy.state.evaluator.switches, proxy.bundle.bundle, proxy.inventory, _claims(call),
                            call.tool, call.action)


async def check_policy(proxy: ToolProxy, call: Call) -> Refusal | None:
    assert call.requested is not None, "the policy decides on the call's tool_call_requested"
    with proxy.lock:
        call.decision, extra = p.decide(proxy.state, proxy.bundle.bundle, call.requested)
    try:
        for out in extra:
            if out.topic == topics.CONTROL:  # a stop-ship switch: every replica and the evaluator see it
                proxy.emitter.emit(out.topic, out.key, out.record)
    except WardenError as exc:
        return Refusal(503, "ledger_unavailable", str(exc), error=True)
    return p.policy_refusal(call.decision)


async def check_approval(proxy: ToolProxy, call: Call) -> Refusal | None:
    """Wait for the human's decision; with ``suspend_after_s``, hand the wait back (ApprovalPending) instead."""
    decision = call.decision
    if decision is None or decision.decision != Decision.REQUIRE_APPROVAL:
        return None
    if call.approval is None:
        timeout = proxy.settings.proxy_approval_timeout_s
        asked = call.approval_timeout_s
        if isinstance(asked, (int, float)) and not isinstance(asked, bool) and asked > 0:
            timeout = min(timeout, float(asked))
        # Registered before the request is published, so a fast decision cannot be missed.
        future = proxy.approvals.expect(decision.call_id, decision.run_id)
        try:
            proxy.emitter.emit(topics.APPROVAL_REQUESTS, decision.run_id, decision)
        except WardenError as exc:
            proxy.approvals.forget(decision.call_id)
            return Refusal(503, "ledger_unavailable", f"{exc}; the approval request was not sent")
        proxy.emitter.nudge()
        call.approval, call.approval_timeout = future, timeout
        call.approval_deadline = time.monotonic() + timeout
    remaining = call.approval_deadline - time.monotonic()
    wait = remaining if call.suspend_after_s is None else min(remaining, call.suspend_after_s)
    suspend = wait < remaining
    try:
        approval = await asyncio.wait_for(asyncio.shield(call.approval), wait)
    except TimeoutError:
        if suspend:
            raise ApprovalPending(call) from None
        proxy.approvals.forget(decision.call_id)
        return approval_timeout(call)
    if approval.decision == ApprovalOutcome.APPROVED:
        return None
    return Refusal(403, f"approval_{approval.decision.value}",
                   f"{approval.decision.value} by {approval.approver}: {approval.rationale}")


def approval_timeout(call: Call, why: str = "") -> Refusal:
    assert call.decision is not None
    return Refusal(403, "approval_timeout", f"{call.decision.reason}; no approval within {call.approval_timeout:g} s"
                                            f"{why}, denied (call {call.decision.call_id} stays pending until the "
                                            "approvals service expires it)")


async def call_upstream(proxy: ToolProxy, call: Call) -> Refusal | None:
    return await proxy.upstreams.call(_claims(call), _spec(call), call.call_id, call.value, call.leg)


async def check_output_schema(proxy: ToolProxy, call: Call) -> Refusal | None:
    invalid = p.output_refusal(_spec(call), call.leg.output)
    return replace(invalid, error=True) if invalid is not None else None


# The order is the contract (README "Calling tools through the tool proxy"). Rate limits come before the
# schema and the policy on purpose: an agent looping on a bad or denied call is throttled like any other.
CHECKS: tuple[Check, ...] = (
    Check("token", check_token, Trace.UNSCOPED),
    Check("request", check_request, Trace.EARLY),
    Check("scope", check_scope, Trace.EARLY, opens_events_on=frozenset({"token_scope"})),
    Check("lists", check_lists, Trace.EARLY),
    Check("rate_limits", check_rate_limits, Trace.EARLY),
    Check("input_schema", check_input_schema, Trace.EARLY),
    Check("switches", check_switches, Trace.EVENTS),
    Check("policy", check_policy, Trace.EVENTS),
    Check("approval", check_approval, Trace.EVENTS),
    Check("upstream", call_upstream, Trace.EVENTS),
    Check("output_schema", check_output_schema, Trace.EVENTS),
)
_INDEX = {check.name: i for i, check in enumerate(CHECKS)}


async def run(proxy: ToolProxy, call: Call, start: str = "token", defer_records: bool = False) -> Reply:
    """The call through ``CHECKS`` from ``start`` (a call handed back at its approval resumes there).

    ``defer_records``: a call that got as far as its events comes back with its closing records in
    ``Reply.records``, for the door to queue right after it has answered (``Reply.emit_records``);
    everything a refusal or the upstream call depends on is queued before, as without it."""
    if start == "token":
        proxy.reload()
    for check in CHECKS[_INDEX[start]:]:
        if check.trace is Trace.EVENTS and call.requested is None:
            failed = open_events(proxy, call)
            if failed is not None:
                return failed
        refusal = await check.run(proxy, call)
        if refusal is None:
            continue
        trace = check.trace_of(refusal)
        if trace is Trace.UNSCOPED:
            return refused_unscoped(proxy, call, refusal)
        if trace is Trace.EARLY:
            return refused_early(proxy, call, refusal)
        if call.requested is None:
            failed = open_events(proxy, call)
            if failed is not None:
                return failed
        return finish(proxy, call, refusal, defer_records)
    return finish(proxy, call, None, defer_records)


def _ref(body: dict[str, Any], client_ref: str | None) -> dict[str, Any]:
    """The agent's own call id comes back as a reference only; ``call_id`` is always the proxy's."""
    return {**body, "client_call_id": client_ref} if client_ref is not None else body


def _unavailable(call: Call, exc: WardenError) -> Reply:
    return Reply(503, _ref(Refusal(503, "ledger_unavailable", str(exc)).body(call.call_id), call.client_ref), {})


def refused_unscoped(proxy: ToolProxy, call: Call, refusal: Refusal) -> Reply:
    try:
        proxy.emitter.emit(topics.PROXY_CALLS, "unscoped", p.proxy_call(
            at=call.at, tool=call.tool, action=call.action, refusal=refusal, latency_ms=ms(call.started),
            replica=proxy.settings.proxy_replica))
    except WardenError as exc:
        return Reply(503, Refusal(503, "ledger_unavailable", str(exc)).body(), {})
    return Reply(refusal.status, refusal.body(), call.headers)


def refused_early(proxy: ToolProxy, call: Call, refusal: Refusal) -> Reply:
    try:
        proxy.emitter.emit(topics.PROXY_CALLS, _claims(call).run_id, p.proxy_call(
            at=call.at, tool=call.tool, action=call.action, refusal=refusal, latency_ms=ms(call.started),
            replica=proxy.settings.proxy_replica, claims=call.claims, call_id=call.call_id))
    except WardenError as exc:
        return _unavailable(call, exc)
    headers = {"Retry-After": refusal.retry_after} if refusal.retry_after else {}
    return Reply(refusal.status, _ref(refusal.body(call.call_id), call.client_ref),
                 {**headers, "X-Warden-Call-Id": call.call_id})


def open_events(proxy: ToolProxy, call: Call) -> Reply | None:
    """The call's tool_call_requested: the proxy numbers the run's steps (an agent-sent step is ignored)."""
    claims = _claims(call)
    with proxy.lock:
        step_no = proxy.state.next_step(claims)
    params_out, _, call.param_counts = p.redacted(p.params_text(call.value), None,
                                                  redact_params=proxy.settings.redact_params is not False)
    call.requested = p.requested_event(claims, call.call_id, call.tool, call.action, call.resource, params_out,
                                       step_no, call.at)
    try:
        proxy.emitter.emit(topics.AGENT_EVENTS, claims.run_id, call.requested)
    except WardenError as exc:
        return _unavailable(call, exc)
    return None


def finish(proxy: ToolProxy, call: Call, refusal: Refusal | None, defer_records: bool = False) -> Reply:
    """tool_call_completed and the ProxyCall of a call whose events are open, and the agent's answer.

    The records say when the answer was ready (``at``, ``latency_ms``) whenever they are built."""
    at = datetime.now(UTC)
    latency = ms(call.started)
    if refusal is not None:
        headers = {"Retry-After": refusal.retry_after} if refusal.retry_after else {}
        reply = Reply(refusal.status, _ref(refusal.body(call.call_id), call.client_ref),
                      {**headers, "X-Warden-Call-Id": call.call_id})
    else:
        decision = call.decision
        reply = Reply(200, _ref({"call_id": call.call_id, "output": call.leg.output,
                                 "decision": decision.decision.value if decision else None,
                                 "policy_ids": decision.policy_ids if decision else []}, call.client_ref),
                      {"X-Warden-Call-Id": call.call_id})
    reply.records = lambda: closing_records(proxy, call, refusal, at, latency)
    if not defer_records:
        reply.emit_records()
    return reply


def closing_records(proxy: ToolProxy, call: Call, refusal: Refusal | None, at: datetime, latency: float) -> None:
    """Build, redact and queue the call's tool_call_completed and ProxyCall."""
    claims = _claims(call)
    assert call.requested is not None
    output_text = json.dumps(call.leg.output, ensure_ascii=False) if refusal is None else None
    _, output_out, counts = p.redacted("{}", output_text, redact_outputs=proxy.settings.redact_outputs)
    for kind, n in call.param_counts.items():
        counts[kind] = counts.get(kind, 0) + n
    error = refusal is not None and refusal.error
    status = ToolStatus.OK if refusal is None else (ToolStatus.ERROR if error else ToolStatus.DENIED)
    completed = p.completed_event(call.requested, status, refusal.code if refusal else None, latency, output_out, at)
    record = p.proxy_call(
        at=at, tool=call.tool, action=call.action, refusal=refusal, latency_ms=latency,
        replica=proxy.settings.proxy_replica, claims=claims, call_id=call.call_id,
        event_id=call.requested.event_id, decision=call.decision, upstream_called=call.leg.called,
        upstream_status=call.leg.status, upstream_latency_ms=call.leg.latency_ms, redactions=counts, error=error)
    try:
        proxy.emitter.emit(topics.AGENT_EVENTS, claims.run_id, completed)
        proxy.emitter.emit(topics.PROXY_CALLS, claims.run_id, record)
    except WardenError as exc:
        log.error("call %s finished but its records were not queued: %s", call.call_id, exc)
