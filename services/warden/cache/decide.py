"""The cache's decisions, a pure function of a run's events: what the SDK stores, and why it refuses.

An answer offered to the cache (an llm_call with a cache_key, not a hit) waits in its run until the run
shows what the answer led to:
- a tool call with a side effect (not read-only in the inventory) is requested: refused, `side_effect:T.A`
  (the answer drove an action; serving it again would repeat the action on another run's say-so);
- the run makes its next model call, or completes `succeeded`: stored (it led to no side effect);
- the run completes otherwise: refused, `run_<status>` (an answer that ended in failure is not reused).
It is refused at once when the workflow does not cache (`workflow_disabled`) or when the ledger's
redactor found PII or a secret in its input or output (`pii:<kinds>`, recorded on the event by the SDK,
which alone saw the text). A hit is a decision too (`hit`). The SDK stores exactly what this says, and
`warden replay` writes what this says over the same events to cache.jsonl: the same decisions.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from warden.cache.rules import CacheRules
from warden.core.events import AgentEvent, LlmCall, RunCompleted, RunStatus, ToolCallRequested

RUN_CAPACITY = 100_000  # runs with answers waiting; the oldest is refused (`run_forgotten`) past it


class Verdict(StrEnum):
    HIT = "hit"
    STORED = "stored"
    REFUSED = "refused"


class CacheDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str  # the llm_call decided on
    run_id: str
    tenant_id: str
    workflow: str
    model: str
    cache_key: str
    decision: Verdict
    reason: str = ""  # why refused
    answered_at: datetime  # the llm_call's event time
    decided_at: datetime  # the event time of the record that decided
    expires_at: datetime | None = None  # stored: served until then (answered_at + the workflow's cache_ttl_s)


@dataclass(frozen=True)
class Pending:
    event_id: str
    tenant_id: str
    workflow: str
    model: str
    cache_key: str
    answered_at: datetime


@dataclass
class DeciderState:
    capacity: int = RUN_CAPACITY
    runs: OrderedDict[str, list[Pending]] = field(default_factory=OrderedDict)  # run -> answers waiting


def _decision(p: Pending, run_id: str, verdict: Verdict, reason: str, at: datetime,
              rules: CacheRules) -> CacheDecision:
    expires = p.answered_at + timedelta(seconds=rules.for_workflow(p.workflow).ttl_s) \
        if verdict is Verdict.STORED else None
    return CacheDecision(event_id=p.event_id, run_id=run_id, tenant_id=p.tenant_id, workflow=p.workflow,
                         model=p.model, cache_key=p.cache_key, decision=verdict, reason=reason,
                         answered_at=p.answered_at, decided_at=at, expires_at=expires)


def _settle(state: DeciderState, rules: CacheRules, run_id: str, verdict: Verdict, reason: str,
            at: datetime) -> list[CacheDecision]:
    waiting = state.runs.pop(run_id, None)
    return [_decision(p, run_id, verdict, reason, at, rules) for p in waiting or ()]


def step(state: DeciderState, rules: CacheRules, event: AgentEvent) -> list[CacheDecision]:
    body, at, run_id = event.body, event.occurred_at, event.run_id
    if isinstance(body, LlmCall) and body.is_decision:  # a routing decision (ADR 0015): no model was called
        return []
    if isinstance(body, LlmCall):
        out = _settle(state, rules, run_id, Verdict.STORED, "", at)  # the run moved on without a side effect
        if body.cache_key is None:
            return out
        offer = Pending(event.event_id, event.tenant_id, event.workflow, body.model, body.cache_key, at)
        if body.cache_hit:
            return [*out, _decision(offer, run_id, Verdict.HIT, "", at, rules)]
        if not rules.for_workflow(event.workflow).enabled:
            return [*out, _decision(offer, run_id, Verdict.REFUSED, "workflow_disabled", at, rules)]
        if body.cache_pii:
            return [*out, _decision(offer, run_id, Verdict.REFUSED, f"pii:{body.cache_pii}", at, rules)]
        state.runs[run_id] = [offer]
        while len(state.runs) > state.capacity:
            old_run, old = state.runs.popitem(last=False)
            out += [_decision(p, old_run, Verdict.REFUSED, "run_forgotten", at, rules) for p in old]
        return out
    if isinstance(body, ToolCallRequested) and rules.side_effect(body.tool, body.action):
        return _settle(state, rules, run_id, Verdict.REFUSED, f"side_effect:{body.tool}.{body.action}", at)
    if isinstance(body, RunCompleted):
        if body.status is RunStatus.SUCCEEDED:
            return _settle(state, rules, run_id, Verdict.STORED, "", at)
        return _settle(state, rules, run_id, Verdict.REFUSED, f"run_{body.status.value}", at)
    return []


def finish(state: DeciderState, at: datetime, rules: CacheRules) -> list[CacheDecision]:
    """End of an input (replay): answers of runs that never completed were never stored."""
    out = []
    for run_id in list(state.runs):
        out += _settle(state, rules, run_id, Verdict.REFUSED, "run_not_completed", at)
    return out
