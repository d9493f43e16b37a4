"""Rollups per route: a run's outcome, escalation and whole spend under the route run.route gave it;
a routing decision is no call. Same definitions as warden.core.metrics (success = succeeded ÷ completed)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime

from tests.routing.runs import routed_runs
from warden.core.events import AgentEvent, LlmCall, RunCompleted, RunStatus
from warden.core.records import CostRollup
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.cost.windows import RUNS, Delta, SpendWindows
from warden.cost_aggregator.processor import RunSpend, SpendState, flush, step

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def rollups(events: list[AgentEvent], snapshot_at: int | None = None) -> list[CostRollup]:
    prices, budgets = PriceTable.load(), BudgetConfig.load()
    state = SpendState(SpendWindows("p0"))
    rows = []
    for position, event in enumerate(events):
        if position == snapshot_at:
            state = SpendState.from_json(json.loads(json.dumps(state.to_json())))
        state, out = step(state, prices, budgets, event, position)
        rows += [o.record for o in out if isinstance(o.record, CostRollup)]
    return rows + [o.record for o in flush(state)[1] if isinstance(o.record, CostRollup)]


def expected_by_route(events: list[AgentEvent]) -> dict[tuple[str, str], list[float]]:
    """Per (workflow, first route): [completed, succeeded, escalated, spend], computed from the events."""
    prices = PriceTable.load()
    route: dict[str, str] = {}
    escalated: set[str] = set()
    spend: dict[str, float] = defaultdict(float)
    out: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for e in events:
        if isinstance(e.body, LlmCall) and e.body.route_decision is not None:
            if e.body.route_decision.kind.value == "escalate":
                escalated.add(e.run_id)
            route.setdefault(e.run_id, e.body.route or "")
        elif isinstance(e.body, LlmCall):
            spend[e.run_id] += prices.price(e.body, e.occurred_at).cost_usd
        elif isinstance(e.body, RunCompleted):
            row = out[(e.workflow, route.get(e.run_id, ""))]
            row[0] += 1
            row[1] += e.body.status == RunStatus.SUCCEEDED
            row[2] += e.run_id in escalated
            row[3] += spend[e.run_id]
    return out


def test_run_rows_count_outcomes_escalations_and_whole_spend_per_route() -> None:
    events = routed_runs(300, START)
    got: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for r in rollups(events):
        if r.window == "1m" and r.model == RUNS:
            row = got[(r.workflow, r.route)]
            row[0] += r.runs_completed
            row[1] += r.runs_succeeded
            row[2] += r.runs_escalated
            row[3] += r.run_cost_usd
    want = expected_by_route(events)
    assert set(got) == set(want) and {route for _, route in want} == {"cheap", "default", "strong"}
    for key, (completed, succeeded, escalated, spend) in want.items():
        assert got[key][:3] == [completed, succeeded, escalated], key
        assert abs(got[key][3] - spend) < 1e-9, key
    assert sum(v[2] for v in want.values()) > 0


def test_a_decision_is_no_call_and_no_spend() -> None:
    events = routed_runs(60, START)
    calls = sum(isinstance(e.body, LlmCall) and e.body.route_decision is None for e in events)
    decisions = sum(isinstance(e.body, LlmCall) and e.body.route_decision is not None for e in events)
    rows = [r for r in rollups(events) if r.window == "1m" and r.model != RUNS]
    assert decisions > 0 and sum(r.calls for r in rows) == calls
    assert all(r.route in ("cheap", "default", "strong") for r in rows)  # the call's own route


def test_a_run_without_a_decision_keeps_the_empty_route() -> None:
    events = [e for e in routed_runs(30, START)
              if not (isinstance(e.body, LlmCall) and e.body.route_decision is not None)]
    runs = [r for r in rollups(events) if r.model == RUNS]
    assert runs and {r.route for r in runs} == {""} and sum(r.runs_escalated for r in runs) == 0


def test_a_snapshot_mid_run_keeps_the_route_and_escalation() -> None:
    events = routed_runs(90, START)
    assert rollups(events, snapshot_at=len(events) // 2) == rollups(events)


def test_snapshots_from_before_routes_still_load() -> None:
    old: list[object] = [0.5, 1]  # a snapshot from before: cost and unpriced calls only
    assert RunSpend(*old) == RunSpend(0.5, 1, "", 0)  # type: ignore[arg-type]
    assert Delta.from_json([3, 1, 2, 0, 1, 0, 0.1, 1, 1, 0, ["v"]]) == Delta(3, 1, 2, 0, 1, 0, 0.1, 1, 1, 0, {"v"})
