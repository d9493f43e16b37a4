"""The proxy's pure checks and the records it emits: no HTTP, no Kafka, no clock.

Order of a call (pipeline.py runs it, as the list CHECKS): token -> scope and inventory -> allow/deny
lists -> rate limits -> input schema -> kill switches and read-only mode -> policy (the evaluator's
own step function, same bundle) -> approval -> upstream -> output schema -> redaction -> events. Rate
limits come before the schema and the policy on purpose: an agent looping on a bad or denied
call is throttled like any other, and the cheap checks run first.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from warden.core.events import AgentEvent, EventType, ToolCallCompleted, ToolCallRequested, ToolStatus
from warden.core.params import check_input
from warden.core.records import Decision, PolicyDecision, ProxyCall, ProxyCallKind, ProxyOutcome
from warden.core.redaction import redact_many
from warden.core.schema_check import FieldError, check
from warden.core.switches import Switches
from warden.policy.bundle import Bundle
from warden.policy_evaluator.processor import EvaluatorState, Output, step
from warden.tool_proxy.access import AccessLists
from warden.tool_proxy.inventory import ActionSpec, Inventory, ToolSpec
from warden.tool_proxy.limits import Bucket
from warden.tool_proxy.tokens import TokenClaims

_PROXY = uuid.UUID("3c8e1f0a-5b2d-4e7f-9a16-7d4c2b9e0f53")


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    reason: str
    errors: tuple[FieldError, ...] = ()
    retry_after: str | None = None
    error: bool = False  # the call failed (upstream, output, ledger) rather than being refused by a rule

    def body(self, call_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "reason": self.reason}
        if self.errors:
            out["errors"] = [{"field": e.field, "rule": e.rule, "message": e.message} for e in self.errors]
        if call_id is not None:
            out["call_id"] = call_id
        return out


@dataclass
class ProxyState:
    """What the proxy remembers across calls: the evaluator's run facts and switches, step numbers."""

    evaluator: EvaluatorState = field(default_factory=EvaluatorState)
    steps: OrderedDict[str, int] = field(default_factory=OrderedDict)
    capacity: int = 100_000

    def next_step(self, claims: TokenClaims) -> int:
        key = f"{claims.tenant_id}/{claims.run_id}"
        n = self.steps.get(key, 0) + 1
        self.steps[key] = n
        self.steps.move_to_end(key)
        while len(self.steps) > self.capacity:
            self.steps.popitem(last=False)
        return n


def scope_refusal(claims: TokenClaims, inventory: Inventory, tool: str, action: str) -> Refusal | None:
    name = f"{tool}.{action}"
    if name not in claims.tools:
        return Refusal(403, "token_scope", f"this run's token is scoped to workflow {claims.workflow} "
                                           f"({', '.join(sorted(claims.tools))}); it does not cover {name}")
    if inventory.action(tool, action) is None:
        return Refusal(404, "unknown_tool", f"{name} is not in this deployment's tool inventory")
    return None


def access_refusal(lists: AccessLists, claims: TokenClaims, tool: str, action: str) -> Refusal | None:
    reason = lists.refusal(claims.tenant_id, claims.workflow, tool, action)
    return Refusal(403, "access_list", reason) if reason else None


def buckets(spec: ToolSpec, claims: TokenClaims) -> list[Bucket]:
    limits, out = spec.rate_limits, []
    if limits.per_tenant:
        out.append(Bucket(f"tenant:{claims.tenant_id}:{spec.name}", limits.per_tenant))
    if limits.per_tool:
        out.append(Bucket(f"tool:{spec.name}", limits.per_tool))
    if limits.per_run:
        out.append(Bucket(f"run:{claims.tenant_id}/{claims.run_id}:{spec.name}", limits.per_run))
    return out


def input_refusal(spec: ActionSpec, value: Any) -> Refusal | None:
    """The same check the policy-evaluator runs on the event (warden.core.params), on the request's input."""
    errors = check_input(spec.input_validator, value, "input")
    if not errors:
        return None
    return Refusal(422, "schema_invalid", f"input of {spec.qualified} breaks its schema: "
                                          + "; ".join(str(e) for e in errors), tuple(errors))


def output_refusal(spec: ActionSpec, value: Any) -> Refusal | None:
    found = check(spec.output_validator, value, "output")
    if not found:
        return None
    # Name the field and the rule, never the value: an invalid output is not passed on, not even in part.
    errors = [FieldError(e.field, e.rule, f"breaks the rule {e.rule!r} of the output schema") for e in found]
    return Refusal(502, "output_invalid", f"the upstream of {spec.qualified} answered an output that breaks its "
                                          "schema; it is not passed on: " + "; ".join(str(e) for e in errors),
                   tuple(errors))


def switch_refusal(switches: Switches, bundle: Bundle, inventory: Inventory, claims: TokenClaims, tool: str,
                   action: str) -> Refusal | None:
    """Kill switches and read-only mode; a call passes read-only mode only when the inventory and the
    workflow's read_only_tools both say the action is read-only."""
    name = f"{tool}.{action}"
    workflow_ro = bundle.workflow(claims.workflow).read_only_tools
    read_only = frozenset({name}) if name in inventory.read_only_actions and (
        name in workflow_ro or tool in workflow_ro) else frozenset()
    block = switches.blocking(claims.tenant_id, claims.workflow, tool, action, read_only)
    if block is None:
        return None
    code = "kill_switch" if block.control.kind.value == "kill" else "read_only"
    return Refusal(403, code, block.reason)


def requested_event(claims: TokenClaims, call_id: str, tool: str, action: str, resource: str | None,
                    params: str, step_no: int, at: datetime) -> AgentEvent:
    return AgentEvent(event_id=str(uuid.uuid4()), event_type=EventType.TOOL_CALL_REQUESTED, occurred_at=at,
                      tenant_id=claims.tenant_id, workflow=claims.workflow, run_id=claims.run_id,
                      agent_id=claims.agent_id, step=step_no,
                      body=ToolCallRequested(call_id=call_id, tool=tool, action=action, resource=resource,
                                             params=params))


def completed_event(requested: AgentEvent, status: ToolStatus, error_code: str | None, latency_ms: float,
                    output: str | None, at: datetime) -> AgentEvent:
    body = requested.body
    assert isinstance(body, ToolCallRequested)
    return AgentEvent(event_id=str(uuid.uuid4()), event_type=EventType.TOOL_CALL_COMPLETED, occurred_at=at,
                      tenant_id=requested.tenant_id, workflow=requested.workflow, run_id=requested.run_id,
                      agent_id=requested.agent_id, user_id=requested.user_id, step=requested.step,
                      body=ToolCallCompleted(call_id=body.call_id, tool=body.tool, status=status,
                                             error_code=error_code, latency_ms=latency_ms, output=output))


def decide(state: ProxyState, bundle: Bundle, event: AgentEvent) -> tuple[PolicyDecision, list[Output]]:
    """The policy-evaluator's own step on the event the proxy is about to emit: same code, same bundle,
    same deterministic decision id as the stream service will give it."""
    state.evaluator, outputs = step(state.evaluator, bundle, event)
    decision = next(o.record for o in outputs if isinstance(o.record, PolicyDecision))
    assert isinstance(decision, PolicyDecision)
    return decision, [o for o in outputs if o.record is not decision]


def policy_refusal(decision: PolicyDecision) -> Refusal | None:
    if decision.decision == Decision.DENY:
        switched = any(p.startswith("switch:") for p in decision.policy_ids)
        return Refusal(403, "kill_switch" if switched else "policy_deny", decision.reason)
    return None


def redacted(params: str, output: str | None, *, redact_params: bool = True,
             redact_outputs: bool = True) -> tuple[str, str | None, dict[str, int]]:
    """What leaves the proxy in events: params and output with secrets and PII taken out (each can be
    turned off: WARDEN_REDACT_PARAMS, WARDEN_REDACT_OUTPUTS; the ledger-sink redacts again either way)."""
    # Counted: what is taken out here (the secrets the proxy stripped from the output already are not).
    texts, counts = redact_many(params if redact_params else None, output if redact_outputs else None,
                                count_existing=False)
    return (texts[0] or params) if redact_params else params, texts[1] if redact_outputs else output, counts


def params_text(value: Any) -> str:
    """The event's params: the validated input (a JSON object in every inventory schema so far)."""
    return json.dumps(value if isinstance(value, dict) else {"input": value}, ensure_ascii=False)


def proxy_call(*, at: datetime, tool: str, action: str, refusal: Refusal | None, latency_ms: float,
               replica: str, claims: TokenClaims | None = None, call_id: str | None = None,
               event_id: str | None = None, decision: PolicyDecision | None = None, upstream_called: bool = False,
               upstream_status: int | None = None, upstream_latency_ms: float | None = None,
               redactions: dict[str, int] | None = None, error: bool = False) -> ProxyCall:
    counts = redactions or {}
    if refusal is None:
        outcome, status, code, reason = ProxyOutcome.ALLOWED, 200, "ok", "called upstream, output valid"
    else:
        outcome = ProxyOutcome.ERROR if error else ProxyOutcome.REFUSED
        status, code, reason = refusal.status, refusal.code, refusal.reason
    # The ledger lands a proxy_call_id once: derived from the call's event (a re-sent record lands once),
    # else fresh; never the call id alone, which an agent once chose and could repeat.
    record_id = str(uuid.uuid5(_PROXY, f"call:{event_id}")) if event_id else str(uuid.uuid4())
    return ProxyCall(
        proxy_call_id=record_id, kind=ProxyCallKind.CALL, at=at, call_id=call_id,
        event_id=event_id, tenant_id=claims.tenant_id if claims else None,
        workflow=claims.workflow if claims else None, run_id=claims.run_id if claims else None,
        agent_id=claims.agent_id if claims else None, tool=tool, action=action,
        token_id=claims.token_id if claims else None, key_id=claims.key_id if claims else None,
        outcome=outcome, status_code=status, reason_code=code, reason=reason[:2000],
        decision=decision.decision.value if decision else None,
        policy_ids=list(decision.policy_ids) if decision else [],
        policy_version=decision.policy_version if decision else None, upstream_called=upstream_called,
        upstream_status=upstream_status, latency_ms=max(0.0, latency_ms), upstream_latency_ms=upstream_latency_ms,
        redactions=sum(counts.values()), redaction_kinds=sorted(k for k, n in counts.items() if n), replica=replica)


def token_record(kind: ProxyCallKind, claims: TokenClaims, at: datetime, actor: str, replica: str,
                 reason: str) -> ProxyCall:
    """A token issued or revoked, for the audit trail (deterministic id: a replayed record lands once)."""
    return ProxyCall(
        proxy_call_id=str(uuid.uuid5(_PROXY, f"{kind.value}:{claims.token_id}")), kind=kind, at=at,
        tenant_id=claims.tenant_id, workflow=claims.workflow, run_id=claims.run_id, agent_id=claims.agent_id,
        tool="*", action="*", token_id=claims.token_id, key_id=claims.key_id, outcome=ProxyOutcome.ALLOWED,
        status_code=200, reason_code=kind.value, reason=reason, upstream_called=False, latency_ms=0.0, actor=actor,
        replica=replica)
