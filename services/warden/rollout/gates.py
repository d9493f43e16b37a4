"""Judging a candidate at one step: each gate on its interval (warden.rollout.intervals), with the
metric values from their one definition (warden.core.metrics) over the same runs.

The runs judged are the release's runs that started during the step and completed before the
judgment's cut-off (event time): everything about such a run is known (its calls come before its
run_completed on the same partition; its decisions and pages within the controller's settle time),
so the live controller and replay judge the same set. Runs still in flight are not judged yet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from warden.core.metrics import TARGET_KEYS, RunOutcome, WorkflowMetrics, summarize
from warden.core.records import MetricFigure
from warden.rollout import intervals
from warden.rollout.plan import Gates

SUCCESS_DROP = "success_drop_vs_baseline"
COST_INCREASE = "cost_increase_vs_baseline"
COMPARISON_KEYS: dict[str, tuple[str, str]] = {
    "success_drop_vs_baseline_max": (SUCCESS_DROP, "max"),
    "cost_increase_vs_baseline_max": (COST_INCREASE, "max"),
}
GATE_KEYS: dict[str, tuple[str, str]] = {**TARGET_KEYS, **COMPARISON_KEYS}


@dataclass(frozen=True)
class Sample:
    """One release's judged runs: the metric values and the per-run values their intervals need."""

    runs: tuple[RunOutcome, ...]
    metrics: WorkflowMetrics

    @classmethod
    def of(cls, runs: Sequence[RunOutcome]) -> Sample:
        return cls(tuple(runs), summarize(runs))

    @property
    def completed_runs(self) -> list[RunOutcome]:
        return [r for r in self.runs if r.completed]

    def spends(self) -> list[float]:
        """Per-run spend of the completed runs: what cost per task is the mean of."""
        return [r.spend_usd for r in self.completed_runs]

    def latencies(self) -> list[float]:
        return [lat for r in self.completed_runs if (lat := r.latency_s) is not None]


def _finite(value: float) -> float | None:
    return None if math.isinf(value) or math.isnan(value) else value


def figures(sample: Sample, z: float) -> dict[str, MetricFigure]:
    """Every workflow metric with its interval at z (no verdicts)."""
    m = sample.metrics
    out: dict[str, MetricFigure] = {}
    for name, hits, n in (("task_success_rate", m.succeeded, m.completed),
                          ("violation_rate", m.violating_runs, m.runs),
                          ("high_severity_rate", m.paged_runs, m.runs)):
        low, high = intervals.proportion(hits, n, z)
        out[name] = MetricFigure(value=m.value(name), low=low, high=high, runs=n)
    _, low, high = intervals.mean(sample.spends(), z)
    out["cost_per_task_usd"] = MetricFigure(value=m.cost_per_task_usd, low=_finite(max(0.0, low)),
                                            high=_finite(high), runs=m.completed)
    latencies = sample.latencies()
    low, high = intervals.quantile(latencies, 0.95, z)
    out["latency_p95_s"] = MetricFigure(value=m.latency_p95_s, low=_finite(low), high=_finite(high),
                                        runs=len(latencies))
    return out


def comparisons(candidate: Sample, baseline: Sample, z: float) -> dict[str, MetricFigure]:
    c, b = candidate.metrics, baseline.metrics
    drop, low, high = intervals.difference(b.succeeded, b.completed, c.succeeded, c.completed, z)
    out = {SUCCESS_DROP: MetricFigure(value=drop, low=low, high=high, runs=c.completed)}
    increase, low, high = intervals.ratio_increase(*intervals.spread(candidate.spends()),
                                                   *intervals.spread(baseline.spends()), z)
    out[COST_INCREASE] = MetricFigure(value=increase, low=low, high=_finite(high), runs=c.completed)
    return out


def verdict(figure: MetricFigure, target: float, bound: str) -> str:
    """pass: the whole interval is on the good side; fail: the whole interval is on the bad side."""
    if figure.value is None:
        return "inconclusive"
    low = -math.inf if figure.low is None else figure.low
    high = math.inf if figure.high is None else figure.high
    if bound == "min":
        return "pass" if low >= target else "fail" if high < target else "inconclusive"
    return "pass" if high <= target else "fail" if low > target else "inconclusive"


@dataclass(frozen=True)
class Judgment:
    z: float
    candidate: Sample
    baseline: Sample
    figures: dict[str, MetricFigure]  # the candidate's, with each gate's target and verdict
    baseline_figures: dict[str, MetricFigure]
    gated: tuple[str, ...]  # figure names that are gates, in plan-key order

    def with_verdict(self, wanted: str) -> list[str]:
        return [name for name in self.gated if self.figures[name].verdict == wanted]

    @property
    def failed(self) -> list[str]:
        return self.with_verdict("fail")

    @property
    def inconclusive(self) -> list[str]:
        return self.with_verdict("inconclusive")

    @property
    def passed(self) -> bool:
        return all(self.figures[name].verdict == "pass" for name in self.gated)

    def describe(self, names: Sequence[str]) -> str:
        return "; ".join(describe(name, self.figures[name]) for name in names)


UNKNOWN = "∅"  # a figure or a bound not known yet (too few runs, no baseline): as the CLI's tables print None


def describe(name: str, f: MetricFigure) -> str:
    """e.g. 'cost_per_task_usd 0.14 [0.131, 0.149] over 212 runs, max 0.1', and 'latency_p95_s 4.2 [∅, ∅] over 3
    runs' while a bound is unknown (it said '?' here, in reasons, pages and the report, and '∅' in the tables
    of `warden rollout status` and `warden workflow status`)."""
    def num(v: float | None) -> str:
        return UNKNOWN if v is None else f"{v:.4g}"
    gate = f", {f.bound} {num(f.target)}" if f.bound else ""
    return f"{name} {num(f.value)} [{num(f.low)}, {num(f.high)}] over {f.runs} runs{gate}"


def judge(gates: Gates, confidence: float, candidate: Sample, baseline: Sample) -> Judgment:
    keys = [key for key in GATE_KEYS if getattr(gates, key) is not None]
    z = intervals.z_for(confidence, len(keys))
    candidate_figures = {**figures(candidate, z), **comparisons(candidate, baseline, z)}
    gated = []
    for key in keys:
        name, bound = GATE_KEYS[key]
        target = float(getattr(gates, key))
        figure = candidate_figures[name].model_copy(update={"target": target, "bound": bound})
        candidate_figures[name] = figure.model_copy(update={"verdict": verdict(figure, target, bound)})
        gated.append(name)
    return Judgment(z, candidate, baseline, candidate_figures, figures(baseline, z), tuple(gated))
