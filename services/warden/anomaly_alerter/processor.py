"""The alerter's pure step: (state, event or decision in event-time order) -> (state, alerts).

Two lanes, each a pure function of its own input in its own total order:
- ``events``: runaway steps, repeated tool failures, success rate, spend, context growth. Reads agent.events only,
  so these alerts never wait for the policy-evaluator.
- ``decisions``: unauthorized action attempts and policy-block spikes. Reads the decisions plus
  the tool-call requests they answer (for the workflow and the tool), so it moves at the pace of
  the policy-evaluator, which it cannot outrun anyway.
The shell (service.py) and `warden replay` put each lane's records through its own
ReorderBuffer and call ``step`` in the order it releases, so the same records give the same
alerts (docs/decisions/0003-alerting-on-event-time.md).
Each lane counts a record once: an event by its event_id, a decision by its decision_id (the
ids the ledger lands once), so a client's re-send or a re-produced decision adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from warden.alerting import rules as r
from warden.alerting.book import AlertBook
from warden.alerting.config import AlertRules
from warden.alerting.context_growth import ContextState, context_growth
from warden.core.events import AgentEvent, LlmCall, ToolCallRequested
from warden.core.records import Alert, PolicyDecision
from warden.core.seen import SeenIds

TICK_S = 1.0  # quiet-period and bucket checks run at most once per second of event time
DEDUPE_CAPACITY = 100_000  # record ids remembered per lane: the alerter reads every partition

Lane = Literal["events", "decisions"]
LANES: tuple[Lane, ...] = ("events", "decisions")

# Prices an LLM call in USD; None means it cannot be priced (unknown model), never zero.
Pricer = Callable[[AgentEvent, LlmCall], float | None]


def cost_from_event(event: AgentEvent, body: LlmCall) -> float | None:
    return body.cost_usd


@dataclass
class AlerterState:
    lane: Lane
    rules: r.RuleState
    last_tick: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    seen: SeenIds = field(default_factory=lambda: SeenIds(DEDUPE_CAPACITY))  # snapshots from before: none
    duplicates: int = 0
    context: ContextState = field(default_factory=ContextState)  # the events lane's runs, for context growth

    @classmethod
    def new(cls, lane: Lane, alert_rules: AlertRules, call_capacity: int = 200_000,
            dedupe_capacity: int = DEDUPE_CAPACITY) -> AlerterState:
        return cls(lane, r.RuleState(AlertBook(alert_rules.renotify_s), call_capacity=call_capacity),
                   seen=SeenIds(dedupe_capacity))


def lanes_for(message: BaseModel) -> tuple[Lane, ...]:
    """Which lanes read a record: every event feeds the events lane; decisions and the requests
    they answer feed the decisions lane."""
    if isinstance(message, PolicyDecision):
        return ("decisions",)
    if isinstance(message, AgentEvent) and isinstance(message.body, ToolCallRequested):
        return LANES
    return ("events",)


def sort_key(message: BaseModel) -> tuple[datetime, int, str]:
    """The total order both live and replay process in: event time, events before decisions, id."""
    if isinstance(message, AgentEvent):
        return message.occurred_at, 0, message.event_id
    if isinstance(message, PolicyDecision):
        return message.decided_at, 1, message.event_id
    raise TypeError(f"the alerter reads AgentEvent and PolicyDecision, got {type(message).__name__}")


def record_id(message: BaseModel) -> str:
    """What a lane counts once: the ledger's id of the record (events and decisions kept apart)."""
    if isinstance(message, AgentEvent):
        return f"e:{message.event_id}"
    if isinstance(message, PolicyDecision):
        return f"d:{message.decision_id}"
    raise TypeError(f"the alerter reads AgentEvent and PolicyDecision, got {type(message).__name__}")


def step(state: AlerterState, alert_rules: AlertRules, message: BaseModel,
         price: Pricer = cost_from_event) -> tuple[AlerterState, list[Alert]]:
    if not state.seen.first_time(record_id(message)):
        state.duplicates += 1
        return state, []
    rs = state.rules
    at, _, _ = sort_key(message)
    out: list[Alert] = []
    if rs.now is None or at > rs.now:
        rs.now = at
    if state.lane == "events":
        if isinstance(message, AgentEvent):
            out += r.runaway_steps(rs, alert_rules, message)
            out += r.tool_failures(rs, alert_rules, message)
            out += r.run_outcome(rs, alert_rules, message)
            out += context_growth(state.context, rs.book, alert_rules, message)
            if isinstance(message.body, LlmCall):
                out += r.cost_spike(rs, alert_rules, message, price(message, message.body))
    elif isinstance(message, AgentEvent):
        r.requested(rs, message)
    elif isinstance(message, PolicyDecision):
        out += r.unauthorized_action(rs, alert_rules, message)
        out += r.policy_blocks(rs, alert_rules, message)
        rs.calls.pop(message.call_id, None)  # one decision per call: the request is no longer needed
    now = rs.now
    if state.last_tick is None or (now - state.last_tick).total_seconds() >= TICK_S:
        state.last_tick = now
        out += r.resolve_tool_failures(rs, alert_rules, now)
        out += rs.book.resolve_quiet(now)
        out += r.close_buckets(rs, alert_rules, now)
    for alert in out:
        key = f"{alert.kind.value}:{alert.status}"
        state.counts[key] = state.counts.get(key, 0) + 1
    return state, out


@dataclass
class Alerter:
    """Both lanes together, for callers that hand records over already in one lane's order
    (unit tests; a single ordered file)."""

    lanes: dict[str, AlerterState]

    @classmethod
    def new(cls, alert_rules: AlertRules, call_capacity: int = 200_000,
            dedupe_capacity: int = DEDUPE_CAPACITY) -> Alerter:
        return cls({lane: AlerterState.new(lane, alert_rules, call_capacity, dedupe_capacity) for lane in LANES})

    def step(self, alert_rules: AlertRules, message: BaseModel, price: Pricer = cost_from_event) -> list[Alert]:
        out: list[Alert] = []
        for lane in lanes_for(message):
            self.lanes[lane], alerts = step(self.lanes[lane], alert_rules, message, price)
            out += alerts
        return out
