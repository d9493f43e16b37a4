"""Budgets and cost regression over the stream of 1-minute rollups (the aggregator's second stage).

Spend only grows, so a ceiling is crossed exactly once per period whatever order the rollups
of different partitions arrive in; the alert and the kill switch are named by (rule, scope,
period) and dated by the rollup that crossed, so a re-processed stream reproduces them.
Regression compares closed periods only: a half-finished week against a full one would cry wolf.
Each rollup counts once by its `rollup_id`: stage one re-produces rows after a crash (its
snapshot's outbox, the records after its last snapshot) with the same ids, which the ledger
lands once, so the budgets must add them once too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from warden.core import topics
from warden.core.output import Output
from warden.core.records import Alert, AlertKind, Control, ControlKind, CostRollup, Severity
from warden.core.seen import SeenIds
from warden.core.switches import BUDGET_ACTOR
from warden.cost.budgets import BudgetConfig, Ceiling
from warden.cost.windows import RUNS, from_millis, millis

_ALERTS = uuid.UUID("3c1f8e0a-6b2d-4e47-9f15-7a0d2c4b8e61")
ALL_TENANTS = "*"
# Where on-call finds the ticket's breakdown by volume, route mix, tokens per run, price version, cache.
BREAKDOWN = "warden cost weekly (warden report: Weekly cost per successful outcome)"
ROLLUP_CAPACITY = 100_000  # 1m rollup ids remembered: a crash re-produces at most a few seconds' worth


def alert_id(*parts: object) -> str:
    return str(uuid.uuid5(_ALERTS, "|".join(str(p) for p in parts)))


def period_key(period: str, at: datetime) -> str:
    return f"{at:%Y-%m-%d}" if period == "day" else f"{at:%Y-%m}"


@dataclass
class PeriodCost:
    cost_usd: float = 0.0
    succeeded: int = 0
    by_route: dict[str, float] = field(default_factory=dict)  # "model|route" -> usd

    def per_success(self) -> float | None:
        return self.cost_usd / self.succeeded if self.succeeded else None


@dataclass
class TrackerState:
    spend: dict[str, float] = field(default_factory=dict)  # "scope|period key" -> usd
    watermark: int | None = None  # latest window end seen, ms
    periods: dict[str, dict[int, PeriodCost]] = field(default_factory=dict)  # workflow -> index -> cost
    closed: dict[str, int] = field(default_factory=dict)  # workflow -> last period index compared
    seen: SeenIds = field(default_factory=lambda: SeenIds(ROLLUP_CAPACITY))  # rollup ids counted

    def to_json(self) -> dict[str, Any]:
        return {"spend": self.spend, "watermark": self.watermark, "closed": self.closed,
                "periods": {w: {str(i): [p.cost_usd, p.succeeded, p.by_route] for i, p in by.items()}
                            for w, by in self.periods.items()},
                "seen": self.seen.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any], capacity: int | None = None) -> TrackerState:
        """`capacity`: rollup ids to remember (settings); None keeps the snapshot's. Snapshots
        written before the ids were kept load with none remembered."""
        periods = {w: {int(i): PeriodCost(c, s, dict(r)) for i, (c, s, r) in by.items()}
                   for w, by in data["periods"].items()}
        seen = SeenIds.from_json(data.get("seen"), capacity or (None if "seen" in data else ROLLUP_CAPACITY))
        return cls(dict(data["spend"]), data["watermark"], periods, dict(data["closed"]), seen)


def track(state: TrackerState, config: BudgetConfig, rollup: CostRollup) -> list[Output]:
    if rollup.window != "1m":  # the 1h rows repeat the same spend
        return []
    # A row without an id (a producer older than rollup_id) cannot be told from another delta of
    # its window, so it is counted: a budget errs towards stopping spend, never towards missing it.
    if rollup.rollup_id and not state.seen.first_time(rollup.rollup_id):
        return []
    outputs = _ceilings(state, config, rollup)
    outputs.extend(_regression(state, config, rollup))
    return outputs


def _ceilings(state: TrackerState, config: BudgetConfig, rollup: CostRollup) -> list[Output]:
    if rollup.cost_usd <= 0:
        return []
    outputs = []
    for ceiling in config.ceilings(rollup.tenant_id, rollup.workflow):
        key = f"{ceiling.scope}|{period_key(ceiling.period, rollup.window_start)}"
        before = state.spend.get(key, 0.0)
        after = state.spend[key] = before + rollup.cost_usd
        for hard in (False, True):
            limit = ceiling.hard_usd if hard else ceiling.soft_usd
            if before < limit <= after:
                outputs.extend(_crossed(ceiling, hard, key, after, rollup))
    _forget_old_periods(state, rollup.window_start)
    return outputs


def _crossed(ceiling: Ceiling, hard: bool, key: str, spent: float, rollup: CostRollup) -> list[Output]:
    period = key.split("|", 1)[1]
    kind, name = ceiling.scope.split(":", 1)
    rule = "budget_hard" if hard else "budget_soft"
    what = f"{'daily' if ceiling.period == 'day' else 'monthly'} budget of {ceiling.scope} for {period}"
    if hard:
        summary = (f"{what} reached: ${spent:.2f} spent of ${ceiling.hard_usd:.2f}; kill switch "
                   f"{ceiling.scope} set (warden revive {ceiling.scope} to lift it)")
    else:
        summary = f"{what} at {spent / ceiling.hard_usd:.0%}: ${spent:.2f} of ${ceiling.hard_usd:.2f}"
    at = rollup.window_end
    alert = Alert(
        alert_id=alert_id(rule, key), kind=AlertKind.BUDGET_EXCEEDED,
        severity=Severity.PAGE if hard else Severity.TICKET,
        tenant_id=name if kind == "tenant" else ALL_TENANTS,
        workflow=name if kind == "workflow" else rollup.workflow, summary=summary, first_seen=at, last_seen=at,
        count=1, rule=rule, fingerprint=f"{rule}:{key}", value=round(spent, 6),
        threshold=ceiling.hard_usd if hard else ceiling.soft_usd,
        labels={"scope": ceiling.scope, "period": ceiling.period, "period_key": period,
                "ceiling_usd": f"{ceiling.hard_usd:.2f}"},
    )
    outputs = [Output(topics.ALERTS, alert.tenant_id, alert)]
    if hard:
        switch = Control(kind=ControlKind.KILL, scope=ceiling.scope, active=True, actor=BUDGET_ACTOR, at=at,
                         reason=f"{what} reached: ${spent:.2f} of ${ceiling.hard_usd:.2f}")
        outputs.append(Output(topics.CONTROL, switch.key, switch))
    return outputs


def _forget_old_periods(state: TrackerState, at: datetime) -> None:
    """Keep today's and this month's spend (and yesterday's / last month's for late rows)."""
    if len(state.spend) < 4096:
        return
    keep_days = {period_key("day", from_millis(millis(at) - d * 86_400_000)) for d in (0, 1)}
    keep_months = {period_key("month", at), period_key("month", from_millis(millis(at) - 32 * 86_400_000))}
    state.spend = {k: v for k, v in state.spend.items() if k.split("|", 1)[1] in keep_days | keep_months}


def _regression(state: TrackerState, config: BudgetConfig, rollup: CostRollup) -> list[Output]:
    size = config.regression_period_ms
    index = millis(rollup.window_start) // size
    workflow = rollup.workflow
    if index > state.closed.get(workflow, index - 1):  # rows of a period already compared are ignored
        period = state.periods.setdefault(workflow, {}).setdefault(index, PeriodCost())
        period.cost_usd += rollup.cost_usd
        period.succeeded += rollup.runs_succeeded
        if rollup.model != RUNS and rollup.cost_usd:
            route = f"{rollup.model}|{rollup.route}"
            period.by_route[route] = period.by_route.get(route, 0.0) + rollup.cost_usd
    end = millis(rollup.window_end)
    if state.watermark is not None and end <= state.watermark:
        return []
    state.watermark = end
    outputs = []
    for name, periods in state.periods.items():
        # a period closes one minute (one 1m window of lateness) after its end
        ready = sorted(i for i in periods if i > state.closed.get(name, i - 1) and (i + 1) * size <= end - 60_000)
        for done in ready:
            alert = _compare(name, periods.get(done - 1), periods[done], done, config)
            if alert is not None:
                outputs.append(Output(topics.ALERTS, alert.tenant_id, alert))
            periods.pop(done - 1, None)  # `done` stays: the next period is compared with it
            state.closed[name] = done
    return outputs


def _compare(workflow: str, before: PeriodCost | None, now: PeriodCost, index: int,
             config: BudgetConfig) -> Alert | None:
    if before is None:
        return None
    old, new = before.per_success(), now.per_success()
    if old is None or new is None or old <= 0 or new <= old * (1 + config.regression_threshold):
        return None
    growth = {r: now.by_route.get(r, 0.0) / max(now.succeeded, 1) - before.by_route.get(r, 0.0) / before.succeeded
              for r in set(now.by_route) | set(before.by_route)}
    top = max(growth, key=lambda r: growth[r]) if growth else "|"
    model, route = top.split("|", 1)
    size = config.regression_period_ms
    hours = size / 3_600_000
    span = "week over week" if hours == 168 else f"over {hours:g} h periods"
    at = from_millis((index + 1) * size)
    summary = (f"{workflow}: cost per successful task ${old:.4f} -> ${new:.4f} (+{new / old - 1:.0%}) {span}; "
               f"largest contributor {model} via {route or 'default route'} "
               f"(+${growth.get(top, 0.0):.4f} per successful task); what drove it: {BREAKDOWN}")
    return Alert(
        alert_id=alert_id("cost_regression", workflow, index), kind=AlertKind.COST_SPIKE, severity=Severity.TICKET,
        tenant_id=ALL_TENANTS, workflow=workflow, summary=summary, first_seen=at, last_seen=at, count=1,
        rule="cost_regression", fingerprint=f"cost_regression:{workflow}", value=round(new, 6),
        threshold=round(old * (1 + config.regression_threshold), 6),
        labels={"previous_usd_per_success": f"{old:.6f}", "current_usd_per_success": f"{new:.6f}",
                "top_model": model, "top_route": route, "period_hours": f"{hours:g}", "breakdown": BREAKDOWN},
    )
