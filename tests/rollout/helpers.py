"""Runs of a workflow under rollout, as events, and a controller fed with them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.output import Output
from warden.core.partitioning import partition_for
from warden.core.records import Control, Decision, PolicyDecision, RolloutAction, RolloutCommand, RolloutDecision
from warden.cost.prices import PriceTable
from warden.rollout.controller import ControllerConfig, ControllerState, command_record, step
from warden.rollout.plan import Gates, RolloutPlan

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LOOKUP = json.dumps({"customer_id": "cus_1"})  # an allowed call: replay's evaluator denies none
WORKFLOW = "refund_ticket"


def plan(**changes: Any) -> RolloutPlan:
    base: dict[str, Any] = {"workflow": WORKFLOW, "baseline": "v3", "candidate": "v4", "steps": (5, 25, 100),
                            "min_runs": 20, "hold_minutes": 10, "judge_every_minutes": 1, "start_at": T0,
                            "gates": Gates(cost_per_task_usd_max=0.10)}
    return RolloutPlan(**{**base, **changes})


def config() -> ControllerConfig:
    return ControllerConfig(prices=PriceTable.load(), settle=timedelta(seconds=10))


def event(event_type: str, run_id: str, at: datetime, body: dict[str, Any], *, tenant: str = "acme",
          workflow: str = WORKFLOW, step_no: int = 1) -> AgentEvent:
    return AgentEvent.model_validate({
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}:{event_type}:{step_no}")), "event_type": event_type,
        "occurred_at": at, "tenant_id": tenant, "workflow": workflow, "run_id": run_id, "agent_id": "agent-1",
        "step": step_no, "body": body})


def run(run_id: str, release: str, start: datetime, *, cost: float = 0.05, status: str = "succeeded",
        duration_s: float = 5.0, workflow: str = WORKFLOW, tenant: str = "acme") -> list[AgentEvent]:
    return [
        event("run_started", run_id, start, {"workflow_version": release, "prompt_version": "p1", "model": "m",
                                             "release": release}, workflow=workflow, tenant=tenant),
        event("llm_call", run_id, start + timedelta(seconds=1),
              {"model": "m", "provider": "p", "input_tokens": 10, "output_tokens": 5, "latency_ms": 100.0,
               "cost_usd": cost}, step_no=2, workflow=workflow, tenant=tenant),
        event("run_completed", run_id, start + timedelta(seconds=duration_s), {"status": status}, step_no=3,
              workflow=workflow, tenant=tenant),
    ]


def deny(run_id: str, at: datetime, *, stop_ship: bool = False, tenant: str = "acme") -> PolicyDecision:
    return PolicyDecision(decision_id=f"d-{run_id}", event_id=str(uuid.uuid4()), call_id=f"c-{run_id}",
                          run_id=run_id, tenant_id=tenant, decided_at=at, decision=Decision.DENY,
                          policy_ids=["deletes-denied-v1"], reason="deletes are denied in v1", policy_version="x",
                          stop_ship=stop_ship)


def traffic(start: datetime, count: int, every_s: float = 10.0, *, candidate_cost: float = 0.05,
            baseline_cost: float = 0.05, candidate_every: int = 2, candidate_status: str = "succeeded",
            prefix: str = "r", vary: float = 0.0) -> list[AgentEvent]:
    """`count` runs, one every `every_s` seconds; every `candidate_every`-th is the candidate's. With `vary`,
    per-run cost alternates cost - vary, cost + vary."""
    events: list[AgentEvent] = []
    for i in range(count):
        candidate = i % candidate_every == 0
        base = candidate_cost if candidate else baseline_cost
        cost = base + (vary if i // candidate_every % 2 else -vary)
        events += run(f"{prefix}{i}", "v4" if candidate else "v3", start + timedelta(seconds=i * every_s), cost=cost,
                      status=candidate_status if candidate else "succeeded")
    return sorted(events, key=lambda e: e.occurred_at)


def with_tool_calls(runs: list[AgentEvent]) -> list[AgentEvent]:
    """Each run with a tool call (requested, completed) after its LLM call, and then, on every partition, tool
    calls alone for ten minutes: the controller's clock gets there only from events it does not decode."""
    calls = []
    for e in runs:
        if e.event_type.value == "llm_call":
            calls.append(event("tool_call_requested", e.run_id, e.occurred_at + timedelta(milliseconds=500),
                               {"call_id": f"c-{e.run_id}", "tool": "crm", "action": "lookup", "params": LOOKUP},
                               step_no=4))
            calls.append(event("tool_call_completed", e.run_id, e.occurred_at + timedelta(milliseconds=900),
                               {"call_id": f"c-{e.run_id}", "tool": "crm", "status": "ok", "latency_ms": 5.0},
                               step_no=5))
    last = max(e.occurred_at for e in runs)
    parts = topics.PARTITIONS[topics.AGENT_EVENTS]
    tails = [next(f"tail{p}-{i}" for i in range(10_000) if partition_for(f"tail{p}-{i}", parts) == p)
             for p in range(parts)]
    for minute in range(1, 11):
        for run_id in tails:
            calls.append(event("tool_call_requested", run_id, last + timedelta(minutes=minute),
                               {"call_id": f"{run_id}-{minute}", "tool": "crm", "action": "lookup", "params": LOOKUP},
                               step_no=minute))
    return sorted(runs + calls, key=lambda e: e.occurred_at)


def start_command(p: RolloutPlan, actor: str = "owner@acme", at: datetime = T0) -> Control:
    return command_record(RolloutCommand(command_id=f"start-{p.workflow}", action=RolloutAction.START,
                                         workflow=p.workflow, plan=p.to_json(), rationale="ship v4"), actor, at)


def command(action: RolloutAction, rollout_id: str, actor: str = "oncall@acme", at: datetime = T0,
            command_id: str | None = None) -> Control:
    return command_record(RolloutCommand(command_id=command_id or f"{action.value}-{uuid.uuid4()}", action=action,
                                         workflow=WORKFLOW, rollout_id=rollout_id, rationale="because"), actor, at)


def feed(state: ControllerState, messages: Iterable[BaseModel], source: str = "replay") -> list[Output]:
    outputs: list[Output] = []
    cfg = config()
    for message in messages:
        state, out = step(state, cfg, message, source)
        outputs += out
    return outputs


def decisions(outputs: list[Output]) -> list[RolloutDecision]:
    return [o.record for o in outputs if isinstance(o.record, RolloutDecision)]


def summary(outputs: list[Output]) -> list[tuple[str, int, int]]:
    return [(d.decision.value, d.step, d.next_step) for d in decisions(outputs)]


def as_json(records: Sequence[BaseModel]) -> list[str]:
    return [json.dumps(r.model_dump(mode="json"), sort_keys=True) for r in records]
