"""The aggregator's pure steps.

Stage one, per input partition: price each llm_call, add it to its 1-minute and 1-hour
windows, count run outcomes, and flag a completed run whose cost passed its workflow's
per-task ceiling. A routing decision (an llm_call carrying route_decision, ADR 0015) is no call:
it gives the run its route, under which the run's outcome, escalation and whole spend are counted.
Stage two (warden.cost.tracker) reads the 1-minute rollups of every partition for budgets and
regression, since a tenant's or a workflow's spend spans partitions.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from warden.core import topics
from warden.core.events import AgentEvent, DecisionKind, EventType, LlmCall, RunCompleted, RunStatus
from warden.core.output import Output
from warden.core.records import Alert, AlertKind, Severity
from warden.core.seen import SeenIds
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import Priced, PriceTable
from warden.cost.windows import RUNS, SpendWindows

_FLAGS = uuid.UUID("9a4c7e21-5f3b-4d08-b6e2-1e8f0c3a7d95")


@dataclass(slots=True)
class RunSpend:
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    route: str = ""  # the route run.route first gave the run: its outcome is counted under it
    escalations: int = 0

    def to_json(self) -> list[Any]:
        return [self.cost_usd, self.unpriced_calls, self.route, self.escalations]


@dataclass
class SpendState:
    windows: SpendWindows
    capacity: int = 100_000
    runs: OrderedDict[str, RunSpend] = field(default_factory=OrderedDict)
    # Ids of the last events counted: a client that re-sends an event (same event_id, same run, so
    # the same partition) is counted once, as the ledger lands it once.
    seen: SeenIds = field(default_factory=SeenIds)

    def run(self, run_id: str) -> RunSpend:
        spend = self.runs.get(run_id)
        if spend is None:
            spend = self.runs[run_id] = RunSpend()
            while len(self.runs) > self.capacity:
                self.runs.popitem(last=False)
        return spend

    def to_json(self) -> dict[str, Any]:
        return {"windows": self.windows.to_json(), "capacity": self.capacity,
                "runs": [[run_id, spend.to_json()] for run_id, spend in self.runs.items()],
                "seen": self.seen.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any], capacity: int | None = None) -> SpendState:
        """`capacity`: how many event ids to remember (settings); None keeps the snapshot's."""
        # older snapshots have no "seen", or a bare list of ids next to "seen_capacity"
        seen = SeenIds.from_json(data.get("seen"), capacity or data.get("seen_capacity"))
        state = cls(SpendWindows.from_json(data["windows"]), data["capacity"], seen=seen)
        state.runs.update((run_id, RunSpend(*spend)) for run_id, spend in data["runs"])
        return state


def route_of(call: LlmCall) -> str:
    return call.route or call.provider


def saved_cost(prices: PriceTable, call: LlmCall, at: datetime) -> Priced:
    """What a cache hit did not spend: its entry's reported cost, else its saved tokens at the price in force."""
    return prices.price(LlmCall(model=call.model, provider=call.provider, input_tokens=call.saved_input_tokens,
                                output_tokens=call.saved_output_tokens, latency_ms=0.0, cost_usd=call.saved_usd), at)


def step(state: SpendState, prices: PriceTable, budgets: BudgetConfig, event: AgentEvent,
         position: int) -> tuple[SpendState, list[Output]]:
    """`position` is the event's place in its source (offset, or line number in replay)."""
    outputs: list[Output] = []
    body = event.body
    counted = isinstance(body, LlmCall) or event.event_type == EventType.RUN_COMPLETED
    if counted and not state.seen.first_time(event.event_id):
        return state, outputs  # a re-sent event: counted when it first came
    if isinstance(body, LlmCall) and body.route_decision is not None:  # a routing decision, not a call
        run = state.run(event.run_id)
        if body.route_decision.kind == DecisionKind.ESCALATE:
            run.escalations += 1
        elif not run.route:
            run.route = body.route or ""
    elif isinstance(body, LlmCall):
        priced = prices.price(body, event.occurred_at)
        saved_usd = saved_cost(prices, body, event.occurred_at).cost_usd if body.cache_hit else 0.0
        for delta in state.windows.delta(event.occurred_at, position, event.tenant_id, event.workflow,
                                         body.model, route_of(body)):
            delta.calls += 1
            delta.input_tokens += body.input_tokens
            delta.output_tokens += body.output_tokens
            delta.cached_tokens += body.cached_tokens
            delta.cost_usd += priced.cost_usd
            delta.unpriced_calls += not priced.known
            delta.versions.add(priced.version)
            if body.cache_hit:
                delta.cache_hits += 1
                delta.saved_tokens += body.saved_input_tokens + body.saved_output_tokens
                delta.saved_usd += saved_usd
        run = state.run(event.run_id)
        run.cost_usd += priced.cost_usd
        run.unpriced_calls += not priced.known
    elif isinstance(body, RunCompleted) and event.event_type == EventType.RUN_COMPLETED:
        run = state.runs.pop(event.run_id) if event.run_id in state.runs else RunSpend()
        ceiling = budgets.task_ceilings.get(event.workflow)
        over = ceiling is not None and run.cost_usd > ceiling
        for delta in state.windows.delta(event.occurred_at, position, event.tenant_id, event.workflow, RUNS,
                                         run.route):
            delta.runs_completed += 1
            delta.runs_succeeded += body.status == RunStatus.SUCCEEDED
            delta.runs_over_ceiling += over
            delta.runs_escalated += run.escalations > 0
            delta.run_cost_usd += run.cost_usd
        if over:
            assert ceiling is not None
            outputs.append(Output(topics.ALERTS, event.tenant_id, ceiling_flag(event, run, ceiling)))
    outputs.extend(Output(topics.COST_ROLLUPS, r.tenant_id, r) for r in state.windows.advance(event.occurred_at))
    return state, outputs


# The event types the aggregator counts; the others only move its windows' event time (`passed`).
READS: frozenset[str] = frozenset({EventType.LLM_CALL.value, EventType.RUN_COMPLETED.value})


def passed(state: SpendState, at: datetime) -> tuple[SpendState, list[Output]]:
    """An event of a type outside READS, known by its event time alone: exactly what `step` does with one
    (the windows' watermark moves), so the shell need not decode it (ADR 0019)."""
    return state, [Output(topics.COST_ROLLUPS, r.tenant_id, r) for r in state.windows.advance(at)]


def feed(state: SpendState, prices: PriceTable, budgets: BudgetConfig, event: AgentEvent,
         position: int) -> tuple[SpendState, list[Output]]:
    """`step`, with the live shell's rule for events outside READS (replay feeds every event through here)."""
    if event.event_type.value not in READS:
        return passed(state, event.occurred_at)
    return step(state, prices, budgets, event, position)


def flush(state: SpendState) -> tuple[SpendState, list[Output]]:
    """Emit every open window as a delta: at the end of a replay, or for a partition gone quiet."""
    return state, [Output(topics.COST_ROLLUPS, r.tenant_id, r) for r in state.windows.flush()]


def ceiling_flag(event: AgentEvent, run: RunSpend, ceiling: float) -> Alert:
    unpriced = f" (and {run.unpriced_calls} calls of unpriced models)" if run.unpriced_calls else ""
    return Alert(
        alert_id=str(uuid.uuid5(_FLAGS, event.run_id)), kind=AlertKind.BUDGET_EXCEEDED, severity=Severity.INFO,
        tenant_id=event.tenant_id, workflow=event.workflow, run_id=event.run_id,
        summary=(f"run {event.run_id} of {event.workflow} cost ${run.cost_usd:.4f}{unpriced}, over the "
                 f"${ceiling:.2f} ceiling per completed task"),
        first_seen=event.occurred_at, last_seen=event.occurred_at, count=1, rule="task_ceiling",
        fingerprint=f"task_ceiling:{event.tenant_id}:{event.workflow}", value=round(run.cost_usd, 6),
        threshold=ceiling, labels={"ceiling_usd": f"{ceiling:.2f}"},
    )
