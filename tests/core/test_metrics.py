"""The one definition of each workflow metric (warden.core.metrics), on hand-counted runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from warden.core.events import RunStatus
from warden.core.metrics import RunOutcome, Totals, check_targets, percentile, summarize
from warden.core.stats import wilson
from warden.core.workflows import Targets

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def run(i: int, status: RunStatus | None, seconds: float = 10, spend: float = 0.05, denials: int = 0,
        pages: int = 0) -> RunOutcome:
    return RunOutcome(f"r{i}", "acme", "refund_ticket", "v4", started_at=T0,
                      completed_at=T0 + timedelta(seconds=seconds) if status else None, status=status,
                      spend_usd=spend, denials=denials, pages=pages)


def test_each_metric_follows_its_written_definition() -> None:
    runs = [run(0, RunStatus.SUCCEEDED, 5), run(1, RunStatus.SUCCEEDED, 30), run(2, RunStatus.FAILED, 8,
            denials=2), run(3, None, spend=0.10, pages=1)]  # r3 still running: counted in runs, not completed

    m = summarize(runs)

    assert (m.runs, m.completed, m.succeeded) == (4, 3, 2)
    assert m.task_success_rate == pytest.approx(2 / 3)  # succeeded / completed
    assert m.violation_rate == pytest.approx(1 / 4)  # runs with a deny / runs
    assert m.cost_per_task_usd == pytest.approx(0.25 / 3)  # all spend / completed
    assert m.latency_p95_s == 30  # nearest rank over completed runs
    assert m.high_severity_rate == pytest.approx(1 / 4)  # runs with a page / runs


def test_no_evidence_is_none_not_zero() -> None:
    m = summarize([run(0, None)])
    assert m.task_success_rate is None and m.cost_per_task_usd is None and m.latency_p95_s is None
    assert m.violation_rate == 0


def test_totals_add_up_run_by_run_like_summarize() -> None:
    runs = [run(i, RunStatus.SUCCEEDED if i % 3 else RunStatus.FAILED, i) for i in range(1, 40)]
    totals = Totals()
    for r in runs:
        totals.add(r)
    assert totals.metrics() == summarize(runs)


def test_percentile_is_nearest_rank() -> None:
    assert percentile(list(map(float, range(1, 101))), 0.95) == 95
    assert percentile([3.0], 0.95) == 3
    assert percentile([], 0.95) is None


def test_targets_are_checked_with_their_bound() -> None:
    m = summarize([run(0, RunStatus.SUCCEEDED, spend=0.2), run(1, RunStatus.FAILED)])
    checks = {c.metric: c for c in check_targets(m, Targets(task_success_rate_min=0.9, cost_per_task_usd_max=0.1,
                                                              latency_p95_s_max=20))}
    assert checks["task_success_rate"].met is False
    assert checks["cost_per_task_usd"].met is False  # 0.25 / 2 = 0.125 > 0.10
    assert checks["latency_p95_s"].met is True
    assert "violation_rate" not in checks  # not set: not judged


def test_wilson_interval_known_values() -> None:
    low, high = wilson(180, 200)  # 90% of 200
    assert low == pytest.approx(0.8506, abs=1e-4) and high == pytest.approx(0.9343, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(0, 50)[0] == 0.0 and wilson(50, 50)[1] == 1.0
    with pytest.raises(ValueError, match="successes=3, n=2"):
        wilson(3, 2)
