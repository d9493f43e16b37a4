"""Each interval against figures worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from warden.core.records import MetricFigure
from warden.rollout import intervals
from warden.rollout.gates import verdict

Z = 1.959963984540054


def test_bonferroni_z() -> None:
    assert intervals.z_for(0.95, 1) == pytest.approx(Z)
    assert intervals.z_for(0.95, 7) == pytest.approx(2.6901, abs=1e-4)  # inv_normal(1 - 0.05 / 14)


def test_wilson_for_rates() -> None:
    # p = 0.9, n = 200: centre (0.9 + z^2/400) / (1 + z^2/200) = 0.892466, half 0.041869
    low, high = intervals.proportion(180, 200, Z)
    assert low == pytest.approx(0.850597, abs=1e-5) and high == pytest.approx(0.934335, abs=1e-5)
    assert intervals.proportion(0, 300, Z)[0] == 0.0  # zero violations: the lower bound is exactly 0


def test_mean_interval_for_cost_per_task() -> None:
    # 0.1, 0.2, 0.3, 0.4: mean 0.25, s^2 = (0.0225 + 0.0025 + 0.0025 + 0.0225) / 3 = 0.016667, se = 0.064550
    values = [0.1, 0.2, 0.3, 0.4]
    centre, low, high = intervals.mean(values, Z)
    assert centre == pytest.approx(0.25)
    assert low == pytest.approx(0.25 - Z * 0.064550, abs=1e-5) and high == pytest.approx(0.25 + Z * 0.064550, abs=1e-5)
    assert intervals.mean([], Z) == (None, -math.inf, math.inf)
    assert intervals.mean([0.3], Z)[1:] == (-math.inf, math.inf)  # one run says nothing of spread


@pytest.mark.parametrize("scale", [1e-300, 1e-3, 1.0, 1e154, 1e200, 1e300])
def test_mean_interval_keeps_its_width_at_any_magnitude(scale: float) -> None:
    # A sum of squares overflowed past ~1e154 a run: inf - inf gave variance 0, a zero-width interval.
    centre, low, high = intervals.mean([v * scale for v in (0.1, 0.2, 0.3, 0.4)], Z)
    assert centre == pytest.approx(0.25 * scale)
    assert high - low == pytest.approx(2 * Z * 0.064550 * scale, rel=1e-4)
    _, se = intervals.spread([v * scale for v in (0.1, 0.2, 0.3, 0.4)])
    assert se == pytest.approx(0.064550 * scale, rel=1e-4)


def test_mean_interval_of_close_large_values_is_not_lost_to_cancellation() -> None:
    # 1e9 + 0.1 .. 1e9 + 0.4: the sum-of-squares form gave a variance off by whole units (or 0)
    _, low, high = intervals.mean([1e9 + v for v in (0.1, 0.2, 0.3, 0.4)], Z)
    assert high - low == pytest.approx(2 * Z * 0.064550, rel=1e-3)


def test_values_that_are_not_finite_give_no_interval() -> None:
    assert intervals.mean([0.1, math.inf, 0.2], Z) == (None, -math.inf, math.inf)
    assert intervals.spread([0.1, math.nan]) == (None, math.inf)
    # a ratio that overflows is no figure (unknown, so the gate holds), not inf or nan
    assert intervals.ratio_increase(1e300, 1.0, 1e-300, 1e-301, Z)[0] is None


def test_order_statistic_interval_for_p95() -> None:
    # n = 200, q = 0.95: 190 -/+ 1.96 * sqrt(9.5) = 190 -/+ 6.041: ranks 183 and 197 of 1..200
    assert intervals.quantile([float(v) for v in range(200, 0, -1)], 0.95, Z) == (183.0, 197.0)
    # n = 60: 57 + 1.96 * 1.688 = 60.31 -> rank 61 > 60: no upper bound
    assert intervals.quantile([1.0] * 60, 0.95, Z)[1] == math.inf


def test_newcombe_difference_for_success_drop() -> None:
    # 180/200 vs 170/200: d = 0.05; Wilson(180) = [0.850597, 0.934335], Wilson(170) = [0.793946, 0.892868]
    # low = 0.05 - sqrt(0.049403^2 + 0.042868^2) = -0.015409
    # high = 0.05 + sqrt(0.034335^2 + 0.056054^2) = 0.115734
    d, low, high = intervals.difference(180, 200, 170, 200, Z)
    assert d == pytest.approx(0.05)
    assert low == pytest.approx(-0.015409, abs=1e-5) and high == pytest.approx(0.115734, abs=1e-5)


def test_log_ratio_interval_for_cost_increase() -> None:
    # 0.14 / 0.10 = 1.4; spread = 1.96 * sqrt((0.003/0.14)^2 + (0.002/0.10)^2) = 0.057450
    increase, low, high = intervals.ratio_increase(0.14, 0.003, 0.10, 0.002, Z)
    assert increase == pytest.approx(0.4)
    assert low == pytest.approx(1.4 * math.exp(-0.057450) - 1, abs=1e-5)
    assert high == pytest.approx(1.4 * math.exp(0.057450) - 1, abs=1e-5)
    assert intervals.ratio_increase(0.1, 0.01, 0.0, 0.0, Z)[0] is None  # a free baseline has no ratio


@pytest.mark.parametrize(("low", "high", "bound", "expected"), [
    (0.91, 0.95, "min", "pass"), (0.85, 0.89, "min", "fail"), (0.88, 0.93, "min", "inconclusive"),
    (0.01, 0.019, "max", "pass"), (0.021, 0.03, "max", "fail"), (0.01, 0.03, "max", "inconclusive"),
    (0.01, None, "max", "inconclusive"),
])
def test_a_gate_passes_or_fails_only_when_the_whole_interval_is_on_one_side(
        low: float, high: float | None, bound: str, expected: str) -> None:
    target = 0.90 if bound == "min" else 0.02
    figure = MetricFigure(value=(low + (high or low)) / 2, low=low, high=high, runs=10)
    assert verdict(figure, target, bound) == expected
    assert verdict(MetricFigure(value=None, runs=0), target, bound) == "inconclusive"


def test_cost_figure_of_huge_spends_keeps_its_width() -> None:
    from warden.core.metrics import RunOutcome, RunStatus
    from warden.rollout.gates import Sample, figures

    runs = [RunOutcome(run_id=f"r{i}", status=RunStatus.SUCCEEDED, spend_usd=(1 + i % 2) * 1e154) for i in range(200)]
    cost = figures(Sample.of(runs), Z)["cost_per_task_usd"]
    assert cost.low is not None and cost.high is not None
    assert cost.low < 1.5e154 < cost.high  # was [1.5e154, 1.5e154]: the squares overflowed, variance 0
