"""Stage one over simulated runs: every priced token in exactly one row, run outcomes counted,
per-task ceiling breaches flagged, and a snapshot mid-stream changes nothing."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from warden.core.events import AgentEvent, LlmCall, RunCompleted
from warden.core.output import Output
from warden.core.records import Alert, CostRollup
from warden.core.seen import SeenIds
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.cost.windows import SpendWindows
from warden.cost_aggregator.processor import READS, SpendState, feed, flush, step
from warden.demo.simulator import UNPRICED_MODEL, Simulator

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def events() -> list[AgentEvent]:
    return list(Simulator(seed=11, start=START, run_prefix="cost").events(4000))


def run_all(events: list[AgentEvent], snapshot_at: int | None = None, seen_capacity: int = 20_000,
            through: Callable[..., tuple[SpendState, list[Output]]] = step) -> list[Output]:
    prices, budgets = PriceTable.load(), BudgetConfig.load()
    state = SpendState(SpendWindows("p0"), seen=SeenIds(seen_capacity))
    outputs: list[Output] = []
    for position, event in enumerate(events):
        if position == snapshot_at:
            state = SpendState.from_json(json.loads(json.dumps(state.to_json())))
        state, out = through(state, prices, budgets, event, position)
        outputs += out
    return outputs + flush(state)[1]


def test_passing_over_what_it_does_not_count_gives_every_output_a_full_step_gives(events: list[AgentEvent]) -> None:
    """ADR 0019: run starts and tool calls, known by their event time alone, move the windows as step does."""
    assert {e.event_type.value for e in events} - READS  # some are passed over
    assert run_all(events, through=feed) == run_all(events)


def test_rollups_add_up_to_the_priced_stream_per_key(events: list[AgentEvent]) -> None:
    prices = PriceTable.load()
    expected: dict[tuple[str, str, str, str], float] = defaultdict(float)
    unpriced = tokens = 0
    for e in events:
        if isinstance(e.body, LlmCall):
            priced = prices.price(e.body, e.occurred_at)
            expected[(e.tenant_id, e.workflow, e.body.model, e.body.route or e.body.provider)] += priced.cost_usd
            unpriced += not priced.known
            tokens += e.body.input_tokens
    assert unpriced > 0, "the simulation includes a model missing from the price table"
    rollups = [o.record for o in run_all(events) if isinstance(o.record, CostRollup)]
    for window in ("1m", "1h"):
        got: dict[tuple[str, str, str, str], float] = defaultdict(float)
        for r in rollups:
            if r.window == window and r.model:
                got[(r.tenant_id, r.workflow, r.model, r.route)] += r.cost_usd
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert round(got[key], 9) == round(value, 9), key
        of_window = [r for r in rollups if r.window == window]
        assert sum(r.unpriced_calls for r in of_window) == unpriced
        assert sum(r.input_tokens for r in of_window) == tokens
        assert all("unknown" in r.price_version for r in of_window if r.unpriced_calls)
        assert {r.model for r in of_window if r.unpriced_calls} == {UNPRICED_MODEL[0]}
    assert len({r.rollup_id for r in rollups}) == len(rollups)


def test_run_outcomes_are_counted_once_per_window_size(events: list[AgentEvent]) -> None:
    completed = [e for e in events if isinstance(e.body, RunCompleted)]
    rollups = [o.record for o in run_all(events) if isinstance(o.record, CostRollup)]
    for window in ("1m", "1h"):
        rows = [r for r in rollups if r.window == window]
        assert sum(r.runs_completed for r in rows) == len(completed)
        assert sum(r.runs_succeeded for r in rows) == sum(e.body.status == "succeeded" for e in completed)  # type: ignore[union-attr]
        assert all(r.model == "" and r.route == "" for r in rows if r.runs_completed)


def test_runs_over_their_per_task_ceiling_are_flagged(events: list[AgentEvent]) -> None:
    prices, ceilings = PriceTable.load(), BudgetConfig.load().task_ceilings
    spend: dict[str, float] = defaultdict(float)
    over = set()
    for e in events:
        if isinstance(e.body, LlmCall):
            spend[e.run_id] += prices.price(e.body, e.occurred_at).cost_usd
        elif isinstance(e.body, RunCompleted) and spend[e.run_id] > ceilings[e.workflow]:
            over.add(e.run_id)
    assert over, "the simulated cost spike pushes some runs over $0.10"
    outputs = run_all(events)
    flags = [o.record for o in outputs if isinstance(o.record, Alert)]
    assert {a.run_id for a in flags} == over
    assert all(a.rule == "task_ceiling" and a.value is not None and a.value > 0.10 for a in flags)
    rollups = [o.record for o in outputs if isinstance(o.record, CostRollup) and o.record.window == "1m"]
    assert sum(r.runs_over_ceiling for r in rollups) == len(over)


def test_a_snapshot_and_restore_mid_stream_gives_the_same_outputs(events: list[AgentEvent]) -> None:
    assert run_all(events, snapshot_at=1777) == run_all(events)


def totals(outputs: list[Output]) -> tuple[float, int, int]:
    rollups = [o.record for o in outputs if isinstance(o.record, CostRollup) and o.record.window == "1h"]
    return (round(sum(r.cost_usd for r in rollups), 9), sum(r.calls for r in rollups),
            sum(r.runs_completed for r in rollups))


def test_an_event_a_client_sends_again_is_counted_once(events: list[AgentEvent]) -> None:
    """The ledger lands a re-sent event once (same event_id); the cost stream must agree with it,
    including across a snapshot taken between the two copies."""
    again = [e for e in events if isinstance(e.body, (LlmCall, RunCompleted))][::7]
    resent = [*events[:2000], *again[: len(again) // 2], *events[2000:], *again[len(again) // 2:]]
    assert len(again) > 50
    assert totals(run_all(resent, snapshot_at=2100)) == totals(run_all(events))
    # with a window too short to remember them, the copies would be counted twice
    assert totals(run_all(resent, seen_capacity=1)) != totals(run_all(events))


def test_a_snapshot_from_before_seen_ids_was_a_class_still_loads(events: list[AgentEvent]) -> None:
    """Older snapshots kept the ids as a bare list next to "seen_capacity" (or none at all)."""
    state = SpendState(SpendWindows("p0"), seen=SeenIds(5, ["e1", "e2"]))
    old = {**state.to_json(), "seen_capacity": 5, "seen": ["e1", "e2"]}
    back = SpendState.from_json(json.loads(json.dumps(old)))
    assert list(back.seen) == ["e1", "e2"] and back.seen.capacity == 5
    assert not back.seen.first_time("e1")
    older = {k: v for k, v in old.items() if k not in ("seen", "seen_capacity")}
    assert len(SpendState.from_json(older, capacity=9).seen) == 0
    assert SpendState.from_json(state.to_json(), capacity=9).seen.capacity == 9
