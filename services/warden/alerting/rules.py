"""The alert rules, each a small function of (state, one record) that returns the alerts to emit.

Pages: unauthorized action attempts, repeated tool failures, runaway step counts.
Tickets: a tenant's spend far above its own baseline, a workflow's success rate far under its
baseline, a workflow's policy denies far above their baseline. Baselines are the series' own
recent buckets (median and MAD, see baseline.py); every window and bucket is on event time.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from warden.alerting.baseline import BucketSeries, lower_limit, upper_limit
from warden.alerting.book import AlertBook
from warden.alerting.config import AlertRules, Thresholds
from warden.core.events import AgentEvent, RunCompleted, RunStatus, ToolCallCompleted, ToolCallRequested, ToolStatus
from warden.core.records import Alert, AlertKind, Decision, PolicyDecision, Severity

OUT_OF_INVENTORY = "out-of-inventory"  # the reference bundle's policy id for a tool outside the inventory
ALL_WORKFLOWS = "*"


@dataclass(frozen=True)
class CallInfo:
    tenant_id: str
    workflow: str
    run_id: str
    tool_action: str


@dataclass
class RuleState:
    book: AlertBook
    now: datetime | None = None
    call_capacity: int = 200_000
    calls: OrderedDict[str, CallInfo] = field(default_factory=OrderedDict)  # call_id -> request, for decisions
    # Keys are pair_key(tenant, tool or workflow): plain strings, so the state snapshots as JSON.
    tool_errors: dict[str, deque[datetime]] = field(default_factory=dict)
    tool_limits: dict[str, Thresholds] = field(default_factory=dict)  # of the last error's workflow
    spend: dict[str, BucketSeries] = field(default_factory=dict)  # tenant -> USD per bucket
    outcomes: dict[str, BucketSeries] = field(default_factory=dict)  # (runs, succeeded) per bucket
    blocks: dict[str, BucketSeries] = field(default_factory=dict)  # (denies, decisions) per bucket
    unpriced_calls: int = 0
    unknown_decisions: int = 0
    late_records: int = 0

    def remember(self, call_id: str, info: CallInfo) -> None:
        self.calls[call_id] = info
        while len(self.calls) > self.call_capacity:
            self.calls.popitem(last=False)


def pair_key(a: str, b: str) -> str:
    return f"{a}\x1f{b}"


def split_key(key: str) -> tuple[str, str]:
    a, _, b = key.partition("\x1f")
    return a, b


def _epoch(at: datetime) -> float:
    return at.timestamp()


def runaway_steps(state: RuleState, rules: AlertRules, event: AgentEvent) -> list[Alert]:
    limit = rules.for_workflow(event.workflow)
    out: list[Alert] = []
    if event.step > limit.runaway_step_limit:
        alert = state.book.observe(
            kind=AlertKind.RUNAWAY_STEPS, severity=Severity.PAGE, rule="step_limit", tenant_id=event.tenant_id,
            workflow=event.workflow, subject=event.run_id, at=event.occurred_at, run_id=event.run_id,
            value=float(event.step), threshold=float(limit.runaway_step_limit),
            summary=(f"run {event.run_id} of {event.workflow} (tenant {event.tenant_id}) is at step {event.step}, "
                     f"past its limit of {limit.runaway_step_limit}"),
            labels={"agent_id": event.agent_id}, quiet_resolve_s=limit.quiet_resolve_s)
        if alert is not None:
            out.append(alert)
    if isinstance(event.body, RunCompleted):
        resolved = state.book.resolve(AlertKind.RUNAWAY_STEPS, "step_limit", event.tenant_id, event.workflow,
                                      event.run_id, event.occurred_at, f"run ended {event.body.status.value}")
        if resolved is not None:
            out.append(resolved)
    return out


def tool_failures(state: RuleState, rules: AlertRules, event: AgentEvent) -> list[Alert]:
    body = event.body
    if not isinstance(body, ToolCallCompleted) or body.status != ToolStatus.ERROR:
        return []
    limit = rules.for_workflow(event.workflow)
    key = pair_key(event.tenant_id, body.tool)
    window = state.tool_errors.setdefault(key, deque())
    state.tool_limits[key] = limit
    window.append(event.occurred_at)
    horizon = event.occurred_at - timedelta(seconds=limit.tool_failure_window_s)
    while window and window[0] <= horizon:
        window.popleft()
    firing = state.book.is_firing(AlertKind.REPEATED_TOOL_FAILURES, "tool_error_burst", event.tenant_id,
                                  ALL_WORKFLOWS, body.tool)
    if len(window) < limit.tool_failure_count and not firing:
        return []
    alert = state.book.observe(
        kind=AlertKind.REPEATED_TOOL_FAILURES, severity=Severity.PAGE, rule="tool_error_burst",
        tenant_id=event.tenant_id, workflow=ALL_WORKFLOWS, subject=body.tool, at=event.occurred_at,
        tool=body.tool, run_id=event.run_id, increment=len(window) if not firing else 1,
        value=float(len(window)), threshold=float(limit.tool_failure_count),
        summary=(f"tool {body.tool} failed {len(window)} times in {limit.tool_failure_window_s} s for tenant "
                 f"{event.tenant_id} (last: {body.error_code or 'no error code'} in {event.workflow})"),
        labels={"last_workflow": event.workflow, "last_run_id": event.run_id,
                "last_error_code": body.error_code or ""})
    return [alert] if alert is not None else []


def resolve_tool_failures(state: RuleState, rules: AlertRules, now: datetime) -> list[Alert]:
    out: list[Alert] = []
    for key, window in list(state.tool_errors.items()):
        tenant, tool = split_key(key)
        limit = state.tool_limits.get(key, rules.defaults)
        horizon = now - timedelta(seconds=limit.tool_failure_window_s)
        while window and window[0] <= horizon:
            window.popleft()
        if len(window) < limit.tool_failure_count:
            resolved = state.book.resolve(AlertKind.REPEATED_TOOL_FAILURES, "tool_error_burst", tenant,
                                          ALL_WORKFLOWS, tool, now,
                                          f"{len(window)} errors in the last {limit.tool_failure_window_s} s")
            if resolved is not None:
                out.append(resolved)
        if not window:
            del state.tool_errors[key]
            state.tool_limits.pop(key, None)
    return out


def unauthorized_action(state: RuleState, rules: AlertRules, decision: PolicyDecision) -> list[Alert]:
    if decision.decision != Decision.DENY:
        return []
    out_of_inventory = OUT_OF_INVENTORY in decision.policy_ids
    if not (out_of_inventory or decision.stop_ship):
        return []
    info = state.calls.get(decision.call_id)
    if info is None:  # its request is older than the cache or was never seen: still page, with less detail
        state.unknown_decisions += 1
        info = CallInfo(decision.tenant_id, "unknown", decision.run_id, "unknown")
    rule = "out_of_inventory" if out_of_inventory else "stop_ship"
    limit = rules.for_workflow(info.workflow)
    what = "outside the workflow's tool inventory" if out_of_inventory else "a stop-ship action"
    alert = state.book.observe(
        kind=AlertKind.UNAUTHORIZED_ACTION, severity=Severity.PAGE, rule=rule, tenant_id=decision.tenant_id,
        workflow=info.workflow, subject=info.tool_action, at=decision.decided_at, run_id=decision.run_id,
        tool=info.tool_action,
        summary=(f"agent attempted {info.tool_action} ({what}) in {info.workflow} for tenant {decision.tenant_id}; "
                 f"denied: {decision.reason}"),
        labels={"last_run_id": decision.run_id, "last_call_id": decision.call_id,
                "policy_ids": ",".join(decision.policy_ids), "policy_version": decision.policy_version},
        quiet_resolve_s=limit.quiet_resolve_s)
    return [alert] if alert is not None else []


def _series(table: dict[Any, BucketSeries], key: object, bucket_s: int, history: int) -> BucketSeries:
    series: BucketSeries | None = table.get(key)
    if series is None:
        series = table[key] = BucketSeries(bucket_s, history)
    return series


def cost_spike(state: RuleState, rules: AlertRules, event: AgentEvent, cost_usd: float | None) -> list[Alert]:
    if cost_usd is None:
        state.unpriced_calls += 1
        return []
    limit = rules.defaults
    series = _series(state.spend, event.tenant_id, limit.cost_bucket_s, limit.cost_history)
    index = series.bucket_of(_epoch(event.occurred_at))
    out = _close_spend(state, limit, event.tenant_id, series, series.advance(index), event.occurred_at)
    if not series.add(index, cost_usd):
        state.late_records += 1
        return out
    history = series.column(0)
    if len(history) < limit.cost_min_history:
        return out
    ceiling = upper_limit(history, limit.cost_mad_k, limit.cost_min_ratio, limit.cost_min_usd)
    spent = series.open[0]
    if spent > ceiling:
        per_hour = 3600 / limit.cost_bucket_s
        alert = state.book.observe(
            kind=AlertKind.COST_SPIKE, severity=Severity.TICKET, rule="spend_rate_baseline",
            tenant_id=event.tenant_id, workflow=ALL_WORKFLOWS, subject="", at=event.occurred_at,
            value=round(spent * per_hour, 6), threshold=round(ceiling * per_hour, 6),
            summary=(f"tenant {event.tenant_id} is spending ${spent * per_hour:,.2f}/h, above its baseline limit "
                     f"${ceiling * per_hour:,.2f}/h (median of its last {len(history)} buckets: "
                     f"${sorted(history)[len(history) // 2] * per_hour:,.2f}/h)"),
            labels={"last_workflow": event.workflow, "last_model": getattr(event.body, "model", "")})
        if alert is not None:
            out.append(alert)
    return out


def _close_spend(state: RuleState, limit: Thresholds, tenant: str, series: BucketSeries,
                 closed: list[tuple[int, tuple[float, ...]]], now: datetime) -> list[Alert]:
    """A firing spend alert resolves when a whole bucket closes back under its limit."""
    if not closed or not state.book.is_firing(AlertKind.COST_SPIKE, "spend_rate_baseline", tenant, ALL_WORKFLOWS):
        return []
    history = series.column(0)
    last = closed[-1][1][0]
    baseline = history[:-1] if len(history) > 1 else history
    if last <= upper_limit(baseline, limit.cost_mad_k, limit.cost_min_ratio, limit.cost_min_usd):
        resolved = state.book.resolve(AlertKind.COST_SPIKE, "spend_rate_baseline", tenant, ALL_WORKFLOWS, "", now,
                                      "a whole bucket's spend was back under the baseline limit")
        return [resolved] if resolved is not None else []
    return []


def run_outcome(state: RuleState, rules: AlertRules, event: AgentEvent) -> list[Alert]:
    if not isinstance(event.body, RunCompleted):
        return []
    limit = rules.for_workflow(event.workflow)
    series = _series(state.outcomes, pair_key(event.tenant_id, event.workflow), limit.success_bucket_s,
                     limit.success_history)
    index = series.bucket_of(_epoch(event.occurred_at))
    out = _judge_success(state, limit, event.tenant_id, event.workflow, series, series.advance(index),
                         event.occurred_at)
    if not series.add(index, 1.0, 1.0 if event.body.status == RunStatus.SUCCEEDED else 0.0):
        state.late_records += 1
    return out


def _judge_success(state: RuleState, limit: Thresholds, tenant: str, workflow: str, series: BucketSeries,
                   closed: list[tuple[int, tuple[float, ...]]], now: datetime) -> list[Alert]:
    """Judged per closed bucket: a rate needs enough runs to mean anything."""
    out: list[Alert] = []
    if not closed:
        return out
    rates = [(s / n) for n, s in series.history if n >= limit.success_min_runs]
    for _, (runs, succeeded) in closed:
        if runs < limit.success_min_runs:
            continue
        baseline = rates[:-1]  # the closed bucket is already the history's last rate
        if len(baseline) < limit.success_min_history:
            continue
        rate = succeeded / runs
        floor = lower_limit(baseline, limit.success_mad_k, limit.success_min_drop)
        if rate < floor:
            alert = state.book.observe(
                kind=AlertKind.SUCCESS_RATE_DROP, severity=Severity.TICKET, rule="success_rate_baseline",
                tenant_id=tenant, workflow=workflow, subject="", at=now, value=round(rate, 4),
                threshold=round(floor, 4),
                summary=(f"{workflow} for tenant {tenant}: {rate:.0%} of {runs:.0f} runs succeeded in the last "
                         f"{limit.success_bucket_s // 60} min, under its baseline limit {floor:.0%}"))
            if alert is not None:
                out.append(alert)
        else:
            resolved = state.book.resolve(AlertKind.SUCCESS_RATE_DROP, "success_rate_baseline", tenant, workflow,
                                          "", now, f"success rate back to {rate:.0%}")
            if resolved is not None:
                out.append(resolved)
    return out


def policy_blocks(state: RuleState, rules: AlertRules, decision: PolicyDecision) -> list[Alert]:
    info = state.calls.get(decision.call_id)
    if info is None:
        return []
    limit = rules.for_workflow(info.workflow)
    key = pair_key(info.tenant_id, info.workflow)
    series = _series(state.blocks, key, limit.block_bucket_s, limit.block_history)
    index = series.bucket_of(_epoch(decision.decided_at))
    out = _close_blocks(state, limit, key, series, series.advance(index), decision.decided_at)
    denied = 1.0 if decision.decision == Decision.DENY else 0.0
    if not series.add(index, denied, 1.0):
        state.late_records += 1
        return out
    history = series.column(0)
    if not denied or len(history) < limit.block_min_history:
        return out
    ceiling = upper_limit(history, limit.block_mad_k, limit.block_min_ratio, float(limit.block_min_count))
    if series.open[0] > ceiling:
        alert = state.book.observe(
            kind=AlertKind.POLICY_BLOCK_SPIKE, severity=Severity.TICKET, rule="deny_count_baseline",
            tenant_id=info.tenant_id, workflow=info.workflow, subject="", at=decision.decided_at,
            value=series.open[0], threshold=round(ceiling, 4), run_id=decision.run_id,
            summary=(f"{info.workflow} for tenant {info.tenant_id}: {series.open[0]:.0f} of {series.open[1]:.0f} "
                     f"tool calls denied in the current {limit.block_bucket_s // 60} min, above its baseline "
                     f"limit {ceiling:.1f}"),
            labels={"last_reason": decision.reason[:200]})
        if alert is not None:
            out.append(alert)
    return out


def _close_blocks(state: RuleState, limit: Thresholds, key: str, series: BucketSeries,
                  closed: list[tuple[int, tuple[float, ...]]], now: datetime) -> list[Alert]:
    tenant, workflow = split_key(key)
    if not closed or not state.book.is_firing(AlertKind.POLICY_BLOCK_SPIKE, "deny_count_baseline", tenant, workflow):
        return []
    history = series.column(0)
    baseline = history[:-1] if len(history) > 1 else history
    if closed[-1][1][0] <= upper_limit(baseline, limit.block_mad_k, limit.block_min_ratio,
                                       float(limit.block_min_count)):
        resolved = state.book.resolve(AlertKind.POLICY_BLOCK_SPIKE, "deny_count_baseline", tenant, workflow, "",
                                      now, "a whole bucket's denies were back under the baseline limit")
        return [resolved] if resolved is not None else []
    return []


def close_buckets(state: RuleState, rules: AlertRules, now: datetime) -> list[Alert]:
    """Event time moved on: close the buckets of series that went quiet, so firing tickets can resolve."""
    out: list[Alert] = []
    epoch = _epoch(now)

    def due(series: BucketSeries) -> int | None:
        index = series.bucket_of(epoch)
        return index if series.index is not None and index > series.index else None

    for tenant, series in state.spend.items():
        if (index := due(series)) is not None:
            out += _close_spend(state, rules.defaults, tenant, series, series.advance(index), now)
    for key, series in state.outcomes.items():
        if (index := due(series)) is not None:
            tenant, workflow = split_key(key)
            out += _judge_success(state, rules.for_workflow(workflow), tenant, workflow, series,
                                  series.advance(index), now)
    for key, series in state.blocks.items():
        if (index := due(series)) is not None:
            out += _close_blocks(state, rules.for_workflow(split_key(key)[1]), key, series, series.advance(index),
                                 now)
    return out


def requested(state: RuleState, event: AgentEvent) -> None:
    if isinstance(event.body, ToolCallRequested):
        state.remember(event.body.call_id, CallInfo(event.tenant_id, event.workflow, event.run_id,
                                                    f"{event.body.tool}.{event.body.action}"))
