"""Budget configuration: ceilings per tenant / workflow per day and month, per-task ceilings,
and the period-over-period regression rule (policies/budgets.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warden.core.errors import ConfigError
from warden.core.shipped import POLICIES
from warden.core.tomlfile import read_toml

DEFAULT_BUDGETS = POLICIES / "budgets.toml"
PERIODS = ("day", "month")
ANY = "*"


@dataclass(frozen=True)
class Ceiling:
    scope: str  # tenant:NAME or workflow:NAME, as kill switches name them
    period: str  # day | month
    hard_usd: float
    soft_usd: float


@dataclass(frozen=True)
class BudgetConfig:
    tenants: dict[str, tuple[Ceiling, ...]] = field(default_factory=dict)
    workflows: dict[str, tuple[Ceiling, ...]] = field(default_factory=dict)
    task_ceilings: dict[str, float] = field(default_factory=dict)
    regression_period_ms: int = 7 * 24 * 3_600_000
    regression_threshold: float = 0.20
    version: str = ""

    def ceilings(self, tenant: str, workflow: str) -> tuple[Ceiling, ...]:
        """A tenant's own entry, else the "*" entry (made concrete for this tenant); then the workflow's."""
        own = self.tenants.get(tenant)
        if own is None:
            own = tuple(Ceiling(f"tenant:{tenant}", c.period, c.hard_usd, c.soft_usd)
                        for c in self.tenants.get(ANY, ()))
        return own + self.workflows.get(workflow, ())

    @classmethod
    def load(cls, path: Path = DEFAULT_BUDGETS) -> BudgetConfig:
        source = read_toml(path, "budget file")
        document = source.document
        soft_ratio = _number(document, "soft_ratio", 0.8, path, low=0.0, high=1.0)
        regression = document.get("regression", {})
        period_hours = _number(regression, "period_hours", 168.0, path, low=1 / 60)
        threshold = _number(regression, "threshold", 0.20, path, low=0.0)
        tenants = {name: _ceilings(f"tenant:{name}", entry, soft_ratio, path)
                   for name, entry in document.get("tenants", {}).items()}
        workflows = {name: _ceilings(f"workflow:{name}", entry, soft_ratio, path)
                     for name, entry in document.get("workflows", {}).items()}
        task = {name: _number(entry, "task_ceiling_usd", 0.0, path, low=0.0)
                for name, entry in document.get("workflows", {}).items() if "task_ceiling_usd" in entry}
        unknown = set(document) - {"soft_ratio", "regression", "tenants", "workflows"}
        if unknown:
            raise ConfigError(f"{path}: unknown keys {sorted(unknown)}; expected soft_ratio, regression, "
                              "tenants, workflows")
        return cls(tenants, workflows, task, int(period_hours * 3_600_000), threshold, source.digest)


def _number(table: dict[str, Any], name: str, default: float, path: Path, low: float = 0.0,
            high: float | None = None) -> float:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low or \
            (high is not None and value > high):
        bounds = f">= {low}" + (f" and <= {high}" if high is not None else "")
        raise ConfigError(f"{path}: {name} must be a number {bounds}, got {value!r}")
    return float(value)


def _ceilings(scope: str, entry: dict[str, Any], soft_ratio: float, path: Path) -> tuple[Ceiling, ...]:
    allowed = {f"{p}_usd" for p in PERIODS} | {"task_ceiling_usd"}
    unknown = set(entry) - allowed
    if unknown:
        raise ConfigError(f"{path} {scope}: unknown keys {sorted(unknown)}; expected {sorted(allowed)}")
    found = []
    for period in PERIODS:
        if f"{period}_usd" in entry:
            hard = _number(entry, f"{period}_usd", 0.0, path, low=0.0)
            found.append(Ceiling(scope, period, hard, hard * soft_ratio))
    return tuple(found)
