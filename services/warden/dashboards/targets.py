"""A panel's target as Grafana thresholds and as the report's red / amber / green.

The numbers come from the workflow contract (policies/workflows.toml `[defaults.targets]`, read by
warden.core.workflows) and, for the HITL share, from the 5-10% range the risk-scorer is held to;
`warden dashboards build` writes them into dashboards/*.json and the report colours with the same
steps, so a dashboard and the report can never disagree on a colour.

Colours: green when the target is met (exactly core.metrics.check_targets' "met"), amber when it is
missed by at most AMBER_MARGIN of the target, red beyond that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

AMBER_MARGIN = 0.10


class Colour(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


GRAFANA = {Colour.GREEN: "green", Colour.AMBER: "orange", Colour.RED: "red"}
_FROM_GRAFANA = {v: k for k, v in GRAFANA.items()}


def _above(value: float) -> float:
    """The first float above `value`: Grafana colours a value by the last step at or below it, and a
    maximum is met AT the target, so the miss colour starts just above it."""
    return math.nextafter(value, math.inf)


@dataclass(frozen=True)
class Goal:
    """Met when low <= value <= high (either bound may be absent)."""

    metric: str  # e.g. task_success_rate (warden.core.metrics) or hitl_share
    low: float | None
    high: float | None
    unit: str  # the panel's Grafana unit, for the text
    source: str  # where the numbers come from, said in the panel's description

    def steps(self) -> list[dict[str, Any]]:
        """Grafana's absolute threshold steps, lowest first (the base step's value is null: -inf)."""
        steps: list[tuple[float | None, Colour]] = []
        if self.low is not None:
            steps.append((None, Colour.RED))
            if self.low > 0:
                steps.append((self.low - AMBER_MARGIN * self.low, Colour.AMBER))
            steps.append((self.low, Colour.GREEN))
        else:
            steps.append((None, Colour.GREEN))
        if self.high is not None:
            steps.append((_above(self.high), Colour.AMBER))
            steps.append((_above(self.high + AMBER_MARGIN * self.high), Colour.RED))
        out: list[dict[str, Any]] = []
        for value, colour in steps:
            if out and value is not None and out[-1]["value"] is not None and value <= out[-1]["value"]:
                out.pop()  # a zero margin leaves no amber band
            out.append({"color": GRAFANA[colour], "value": value})
        return out

    def colour(self, value: float | None) -> Colour | None:
        """What Grafana shows for `value` with these steps; None for no value (no evidence)."""
        return step_colour(self.steps(), value)

    def met(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def text(self) -> str:
        """e.g. "target ≥ 90%", "target ≤ $0.10", "target 5%-10%"."""
        if self.low is not None and self.high is not None:
            return f"target {number(self.low, self.unit)} to {number(self.high, self.unit)}"
        if self.low is not None:
            return f"target ≥ {number(self.low, self.unit)}"
        assert self.high is not None
        return f"target ≤ {number(self.high, self.unit)}"


def step_colour(steps: list[dict[str, Any]], value: float | None) -> Colour | None:
    """Grafana's rule: the colour of the last step whose value is at or below the value."""
    if value is None or not math.isfinite(value):
        return None
    found = None
    for step in steps:
        if step["value"] is None or value >= step["value"]:
            found = step["color"]
    return _FROM_GRAFANA.get(str(found)) if found is not None else None


def number(value: float, unit: str) -> str:
    """A target as people write it: 90%, 0.5%, $0.10, 20 s."""
    if unit == "percentunit":
        return f"{value * 100:.4g}%"
    if unit == "currencyUSD":
        return f"${value:,.2f}" if round(value, 2) == value else f"${value:,.4g}"
    if unit == "s":
        return f"{value:.4g} s"
    return f"{value:.4g}"
