"""Budgets cross once per period (soft ticket, hard page + kill switch); regression names the culprit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from warden.core import topics
from warden.core.errors import ConfigError
from warden.core.records import Alert, Control, CostRollup
from warden.cost.budgets import BudgetConfig
from warden.cost.tracker import TrackerState, track

BUDGETS = """
soft_ratio = 0.8
[regression]
period_hours = 1
threshold = 0.2
[tenants."*"]
day_usd = 10.0
[tenants.big]
day_usd = 100.0
month_usd = 150.0
[workflows.wf]
task_ceiling_usd = 0.1
"""
T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> BudgetConfig:
    path = tmp_path / "budgets.toml"
    path.write_text(BUDGETS)
    return BudgetConfig.load(path)


def rollup(minute: int, cost: float, tenant: str = "big", model: str = "m", route: str = "r",
           succeeded: int = 0, workflow: str = "wf", window: str = "1m") -> CostRollup:
    start = T0 + timedelta(minutes=minute)
    return CostRollup(window_start=start, window_end=start + timedelta(minutes=1), tenant_id=tenant, workflow=workflow,
                      model=model, input_tokens=0, output_tokens=0, cost_usd=cost, runs_completed=succeeded,
                      runs_succeeded=succeeded, rollup_id=f"{tenant}{minute}{model}{cost}", window=window, route=route)


def test_soft_then_hard_ceiling_each_fire_once_and_hard_sets_the_kill_switch(config: BudgetConfig) -> None:
    state = TrackerState()
    costs = [3.0, 3.0, 1.0, 2.0, 0.5, 5.0]
    out = [o for m, c in enumerate(costs) for o in track(state, config, rollup(m, c, tenant="acme"))]
    alerts = [o.record for o in out if isinstance(o.record, Alert)]
    assert [(a.rule, a.severity.value, a.tenant_id) for a in alerts] == [
        ("budget_soft", "ticket", "acme"), ("budget_hard", "page", "acme")]
    assert (alerts[0].value, alerts[1].value) == (pytest.approx(9.0), pytest.approx(14.5))
    assert (alerts[0].threshold, alerts[1].threshold) == (pytest.approx(8.0), pytest.approx(10.0))
    switches = [o for o in out if o.topic == topics.CONTROL]
    assert len(switches) == 1
    control = switches[0].record
    assert isinstance(control, Control)
    assert (control.scope, control.active, control.actor) == ("tenant:acme", True, "warden:budget")
    assert "kill switch tenant:acme set" in alerts[1].summary


def test_a_new_day_starts_a_new_budget_and_1h_rows_are_not_counted_twice(config: BudgetConfig) -> None:
    state = TrackerState()
    assert track(state, config, rollup(0, 9.0, tenant="acme", window="1h")) == []
    assert [o.record.rule for o in track(state, config, rollup(0, 8.5, tenant="acme"))] == [  # type: ignore[attr-defined]
        "budget_soft"]
    next_day = 24 * 60 + 5
    assert [o.record.rule for o in track(state, config, rollup(next_day, 8.5, tenant="acme"))] == [  # type: ignore[attr-defined]
        "budget_soft"]


def test_a_tenant_with_its_own_entry_uses_it_including_a_month_ceiling(config: BudgetConfig) -> None:
    state = TrackerState()
    rules = [(o.record.rule, o.record.labels["period"]) for m in range(4)  # type: ignore[attr-defined]
             for o in track(state, config, rollup(m * 24 * 60, 45.0, tenant="big")) if o.topic == topics.ALERTS]
    assert rules == [("budget_soft", "month"), ("budget_hard", "month")]


def test_cost_per_success_up_over_20_percent_raises_one_ticket_naming_the_model_and_route(
        config: BudgetConfig) -> None:
    state = TrackerState()
    out = []
    for m in range(0, 60, 5):  # hour 0: $1 per success
        out += track(state, config, rollup(m, 1.0, model="mini", route="cheap"))
        out += track(state, config, rollup(m, 0.0, model="", route="", succeeded=1))
    for m in range(60, 120, 5):  # hour 1: $1.5 per success, the extra on gpt-4o via default
        out += track(state, config, rollup(m, 1.0, model="mini", route="cheap"))
        out += track(state, config, rollup(m, 0.5, model="gpt-4o", route="default"))
        out += track(state, config, rollup(m, 0.0, model="", route="", succeeded=1))
    assert not [o for o in out if isinstance(o.record, Alert) and o.record.rule == "cost_regression"]
    out = track(state, config, rollup(125, 0.01, model="mini", route="cheap"))  # hour 1 closes
    regressions = [o.record for o in out if isinstance(o.record, Alert) and o.record.rule == "cost_regression"]
    assert len(regressions) == 1
    alert = regressions[0]
    assert (alert.workflow, alert.severity.value, alert.labels["top_model"], alert.labels["top_route"]) == (
        "wf", "ticket", "gpt-4o", "default")
    assert "$1.0000 -> $1.5000 (+50%)" in alert.summary
    # the ticket names where its breakdown is (volume, route mix, tokens per run, price version, cache)
    assert alert.summary.endswith("what drove it: warden cost weekly (warden report: Weekly cost per successful "
                                  "outcome)")
    assert alert.labels["breakdown"].startswith("warden cost weekly")
    assert track(state, config, rollup(130, 0.01)) == []  # compared once


def test_a_rise_within_the_threshold_raises_nothing(config: BudgetConfig) -> None:
    state = TrackerState()
    out = []
    for hour, cost in ((0, 1.0), (1, 1.15), (2, 1.3)):
        out += track(state, config, rollup(hour * 60, cost, succeeded=1))
    out += track(state, config, rollup(4 * 60, 0.0))
    assert [o.record.rule for o in out if o.topic == topics.ALERTS] == []  # type: ignore[attr-defined]


def test_tracker_state_round_trips(config: BudgetConfig) -> None:
    state = TrackerState()
    for m in range(0, 70, 5):
        track(state, config, rollup(m, 0.3, succeeded=1))
    again = TrackerState.from_json(state.to_json())
    assert again == state


@pytest.mark.parametrize(("text", "message"), [
    ("soft_ratio = 2\n", "soft_ratio must be a number >= 0.0 and <= 1.0"),
    ("[tenants.a]\nday = 3\n", "unknown keys \\['day'\\]"),
    ("[workflows.w]\ntask_ceiling_usd = -1\n", "task_ceiling_usd must be a number >= 0.0"),
    ("budgets = 1\n", "unknown keys \\['budgets'\\]"),
])
def test_a_bad_budget_file_names_the_key_and_what_was_expected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "b.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        BudgetConfig.load(path)


def test_the_shipped_budget_file_loads() -> None:
    config = BudgetConfig.load()
    assert config.task_ceilings["refund_ticket"] == 0.10
    assert config.regression_period_ms == 7 * 24 * 3_600_000


def spend_rows(tenant: str, costs: list[float]) -> list[CostRollup]:
    return [rollup(m, c, tenant=tenant).model_copy(update={"rollup_id": f"{tenant}-row-{m}"})
            for m, c in enumerate(costs)]


def test_a_rollup_produced_again_is_counted_once(tmp_path: Path) -> None:
    """Issue 13's repro: $24.00 real spend under a $26 ceiling. After a kill -9 in a quiet period the
    aggregator re-produces its snapshot's rows ($3.10 of them) with the same rollup_id; counted again,
    the tenant reached $27.10, paged budget_hard and was cut off by a kill switch."""
    path = tmp_path / "budgets.toml"
    path.write_text('soft_ratio = 0.8\n[tenants."*"]\nday_usd = 26.0\n')
    config = BudgetConfig.load(path)
    rows = spend_rows("acme", [10.0, 10.9, 1.0, 2.1])  # $24.00
    state = TrackerState()
    first = [o for r in rows for o in track(state, config, r)]
    assert [o.record.rule for o in first] == ["budget_soft"]  # type: ignore[attr-defined]  # $20.90 >= $20.80
    restored = TrackerState.from_json(json.loads(json.dumps(state.to_json())))
    again = [o for r in rows[2:] for o in track(restored, config, r)]  # the snapshot's outbox, re-produced
    assert again == [], [o.record for o in again]
    assert restored.spend == state.spend and sum(restored.spend.values()) == pytest.approx(24.0)


def test_a_rollup_without_an_id_is_counted_every_time(config: BudgetConfig) -> None:
    """An older producer's row cannot be told from another delta of its window: erring towards the ceiling."""
    state = TrackerState()
    row = rollup(0, 4.0, tenant="acme").model_copy(update={"rollup_id": ""})
    for _ in range(3):
        track(state, config, row)
    assert sum(state.spend.values()) == pytest.approx(12.0)


def test_a_snapshot_from_before_rollup_ids_were_kept_loads(config: BudgetConfig) -> None:
    state = TrackerState()
    for r in spend_rows("acme", [1.0, 2.0]):
        track(state, config, r)
    old = {k: v for k, v in state.to_json().items() if k != "seen"}
    back = TrackerState.from_json(json.loads(json.dumps(old)))
    assert len(back.seen) == 0 and back.spend == state.spend
    assert TrackerState.from_json(state.to_json(), capacity=5).seen.capacity == 5
    assert list(TrackerState.from_json(state.to_json()).seen) == ["acme-row-0", "acme-row-1"]
