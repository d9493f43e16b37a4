"""The alerter's pure step: (state, event or decision in event-time order) -> (state, alerts).

The shell (service.py) and `warden replay` both put records through a ReorderBuffer first and
call ``step`` in the order it releases, so the same records give the same alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from warden.alerting import rules as r
from warden.alerting.book import AlertBook
from warden.alerting.config import AlertRules
from warden.core.events import AgentEvent, LlmCall
from warden.core.records import Alert, PolicyDecision

TICK_S = 1.0  # quiet-period and bucket checks run at most once per second of event time

# Prices an LLM call in USD; None means it cannot be priced (unknown model), never zero.
Pricer = Callable[[AgentEvent, LlmCall], float | None]


def cost_from_event(event: AgentEvent, body: LlmCall) -> float | None:
    return body.cost_usd


@dataclass
class AlerterState:
    rules: r.RuleState
    last_tick: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def new(cls, alert_rules: AlertRules, call_capacity: int = 200_000) -> AlerterState:
        return cls(r.RuleState(AlertBook(alert_rules.renotify_s), call_capacity=call_capacity))


def sort_key(message: BaseModel) -> tuple[datetime, int, str]:
    """The total order both live and replay process in: event time, events before decisions, id."""
    if isinstance(message, AgentEvent):
        return message.occurred_at, 0, message.event_id
    if isinstance(message, PolicyDecision):
        return message.decided_at, 1, message.event_id
    raise TypeError(f"the alerter reads AgentEvent and PolicyDecision, got {type(message).__name__}")


def step(state: AlerterState, alert_rules: AlertRules, message: BaseModel,
         price: Pricer = cost_from_event) -> tuple[AlerterState, list[Alert]]:
    rs = state.rules
    at, _, _ = sort_key(message)
    out: list[Alert] = []
    if rs.now is None or at > rs.now:
        rs.now = at
    if isinstance(message, AgentEvent):
        r.requested(rs, message)
        out += r.runaway_steps(rs, alert_rules, message)
        out += r.tool_failures(rs, alert_rules, message)
        out += r.run_outcome(rs, alert_rules, message)
        if isinstance(message.body, LlmCall):
            out += r.cost_spike(rs, alert_rules, message, price(message, message.body))
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
