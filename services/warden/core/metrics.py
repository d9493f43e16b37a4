"""The five workflow metrics of checklist §1, each with ONE definition used everywhere.

Rollout gates, `warden workflow status`, the eval runner, replay, the report and the dashboards all
judge a workflow (or one release of it) on these numbers; the SQL of the dashboards must give the
same values (its tests compare them with this module on the same runs):

- task success rate   = succeeded runs ÷ completed runs (runs with a run_completed)
- violation rate      = runs with at least one policy deny ÷ runs
- cost per task (USD) = spend of the runs ÷ completed runs
- latency p95 (s)     = nearest-rank 95th percentile of run_started → run_completed, on event time,
                        over completed runs whose start was seen
- high-severity rate  = runs with at least one page-severity alert ÷ runs

"Runs" are the runs observed in the set being judged (a window, a rollout step, an eval), whatever
their outcome. A rate with a zero denominator is None ("no evidence"), never 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from warden.core.events import RunStatus
from warden.core.workflows import Targets

METRICS = ("task_success_rate", "violation_rate", "cost_per_task_usd", "latency_p95_s", "high_severity_rate")


@dataclass
class RunOutcome:
    """What one run did, as far as the metrics need it; built from its events, decisions and alerts."""

    run_id: str
    tenant_id: str = ""
    workflow: str = ""
    release: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    status: RunStatus | None = None
    spend_usd: float = 0.0
    denials: int = 0
    pages: int = 0

    @property
    def completed(self) -> bool:
        return self.status is not None

    @property
    def latency_s(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return max(0.0, (self.completed_at - self.started_at).total_seconds())


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank: the smallest value with at least q of the values at or below it (no interpolation)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _ratio(numerator: float, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class WorkflowMetrics:
    runs: int
    completed: int
    succeeded: int
    violating_runs: int
    paged_runs: int
    spend_usd: float
    task_success_rate: float | None
    violation_rate: float | None
    cost_per_task_usd: float | None
    latency_p95_s: float | None
    high_severity_rate: float | None

    def value(self, metric: str) -> float | None:
        if metric not in METRICS:
            raise KeyError(f"unknown workflow metric {metric!r}; known: {', '.join(METRICS)}")
        result: float | None = getattr(self, metric)
        return result


@dataclass
class Totals:
    """Additive counts behind WorkflowMetrics, so a stream can add runs one at a time."""

    runs: int = 0
    completed: int = 0
    succeeded: int = 0
    violating_runs: int = 0
    paged_runs: int = 0
    spend_usd: float = 0.0
    latencies_s: list[float] = field(default_factory=list)

    def add(self, run: RunOutcome) -> Totals:
        self.runs += 1
        self.completed += run.completed
        self.succeeded += run.status == RunStatus.SUCCEEDED
        self.violating_runs += run.denials > 0
        self.paged_runs += run.pages > 0
        self.spend_usd += run.spend_usd
        latency = run.latency_s if run.completed else None
        if latency is not None:
            self.latencies_s.append(latency)
        return self

    def metrics(self) -> WorkflowMetrics:
        return WorkflowMetrics(
            runs=self.runs, completed=self.completed, succeeded=self.succeeded,
            violating_runs=self.violating_runs, paged_runs=self.paged_runs, spend_usd=self.spend_usd,
            task_success_rate=_ratio(self.succeeded, self.completed),
            violation_rate=_ratio(self.violating_runs, self.runs),
            cost_per_task_usd=_ratio(self.spend_usd, self.completed),
            latency_p95_s=percentile(self.latencies_s, 0.95),
            high_severity_rate=_ratio(self.paged_runs, self.runs),
        )


def summarize(runs: Iterable[RunOutcome]) -> WorkflowMetrics:
    totals = Totals()
    for run in runs:
        totals.add(run)
    return totals.metrics()


@dataclass(frozen=True)
class TargetCheck:
    metric: str
    value: float | None
    target: float
    bound: str  # "min" | "max"
    met: bool | None  # None: no evidence (value unknown)


TARGET_KEYS: dict[str, tuple[str, str]] = {
    "task_success_rate_min": ("task_success_rate", "min"),
    "violation_rate_max": ("violation_rate", "max"),
    "cost_per_task_usd_max": ("cost_per_task_usd", "max"),
    "latency_p95_s_max": ("latency_p95_s", "max"),
    "high_severity_rate_max": ("high_severity_rate", "max"),
}


def check_targets(metrics: WorkflowMetrics, targets: Targets) -> list[TargetCheck]:
    """Each target the workflow sets, against the measured value (a point check; gates add intervals)."""
    checks = []
    for key, (metric, bound) in TARGET_KEYS.items():
        target = getattr(targets, key)
        if target is None:
            continue
        value = metrics.value(metric)
        met = None if value is None else (value >= target if bound == "min" else value <= target)
        checks.append(TargetCheck(metric, value, target, bound, met))
    return checks
