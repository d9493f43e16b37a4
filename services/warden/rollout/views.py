"""JSON views of rollout records for people and other tools (rollouts.jsonl, `warden rollout status`, HTTP)."""

from __future__ import annotations

from typing import Any

from warden.core.events import iso_millis
from warden.core.records import MetricFigure, RolloutDecision, RolloutStage


def figure_view(figure: MetricFigure) -> dict[str, Any]:
    return {"value": figure.value, "interval": [figure.low, figure.high], "runs": figure.runs,
            "target": figure.target, "bound": figure.bound or None, "verdict": figure.verdict or None}


def decision_view(decision: RolloutDecision) -> dict[str, Any]:
    """One line of rollouts.jsonl: the record, times as ISO-8601 UTC, each metric as value, interval, runs."""
    view = decision.model_dump(mode="json")
    view["decided_at"], view["window_start"] = iso_millis(decision.decided_at), iso_millis(decision.window_start)
    view["metrics"] = {name: figure_view(f) for name, f in decision.metrics.items()}
    view["baseline_metrics"] = {name: figure_view(f) for name, f in decision.baseline_metrics.items()}
    return view


def stage_view(stage: RolloutStage) -> dict[str, Any]:
    view = stage.model_dump(mode="json", exclude={"plan"})
    view["step_started_at"] = iso_millis(stage.step_started_at)
    return view
