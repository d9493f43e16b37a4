"""The explainable factors of a risk score, each a value in [0, 1], and how they combine.

Every factor is computed from the call itself or from earlier events (of the run, or of the
same tenant + agent on the same partition), never from the wall clock or from when another
topic's record arrived: the same events give the same factors live and in replay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from warden.core.redaction import redact
from warden.risk.config import FACTORS, RiskWeights

FAILED_STATUSES = frozenset({"error", "denied"})
_MIN_LOG_STD = 0.05  # about 5% of an amount: below this every new amount would look unusual


@dataclass
class Usage:
    """How often one tenant's agent used one action, and the running mean/variance of log(1 + amount)."""

    count: int = 0
    amounts: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, amount: float | None) -> None:
        self.count += 1
        if amount is None:
            return
        value = math.log1p(amount)
        self.amounts += 1
        delta = value - self.mean
        self.mean += delta / self.amounts
        self.m2 += delta * (value - self.mean)

    def to_list(self) -> list[float]:
        return [self.count, self.amounts, self.mean, self.m2]

    @classmethod
    def from_list(cls, data: list[float]) -> Usage:
        return cls(int(data[0]), int(data[1]), data[2], data[3])


@dataclass
class RunFacts:
    """What a run has shown so far: failures, the riskiest PII kind seen, the highest call factors."""

    failures: int = 0
    pii: float = 0.0
    pii_kinds: list[str] = field(default_factory=list)
    calls: int = 0
    steps: int = 0
    peaks: dict[str, float] = field(default_factory=dict)

    def see_text(self, weights: RiskWeights, text: str | None) -> None:
        if not text:
            return
        for kind, n in redact(text).counts.items():
            if n and kind not in self.pii_kinds:
                self.pii_kinds.append(kind)
                self.pii = max(self.pii, weights.pii.get(kind, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {"f": self.failures, "p": self.pii, "k": self.pii_kinds, "c": self.calls, "s": self.steps,
                "m": self.peaks}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunFacts:
        return cls(data["f"], data["p"], list(data["k"]), data["c"], data["s"], dict(data["m"]))


def amount_of(weights: RiskWeights, action: str, params: dict[str, Any]) -> float | None:
    spec = weights.magnitude.get(action)
    if spec is None:
        return None
    value = params.get(spec.param)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _recipients(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def external_of(weights: RiskWeights, action: str, params: dict[str, Any]) -> float:
    ext = weights.external
    if action in ext.always:
        return 1.0
    param = ext.recipients.get(action)
    if param is None:
        return 0.0
    for address in _recipients(params.get(param)):
        domain = address.rpartition("@")[2].strip().lower().rstrip(">")
        if domain not in ext.internal_domains:
            return 1.0
    return 0.0


def novelty_amount(weights: RiskWeights, usage: Usage, amount: float | None) -> float:
    """How far above this agent's usual amounts (in log space) the call is; 0 until there is history."""
    nov = weights.novelty
    if amount is None or usage.amounts < nov.amount_min_history:
        return 0.0
    std = max(math.sqrt(usage.m2 / (usage.amounts - 1)), _MIN_LOG_STD)
    z = (math.log1p(amount) - usage.mean) / std
    return min(1.0, max(0.0, (z - 1.0) / (nov.amount_z_full - 1.0)))


def call_factors(weights: RiskWeights, action: str, params: dict[str, Any], step: int, usage: Usage,
                 facts: RunFacts) -> tuple[dict[str, float], float | None]:
    """The factors of one tool call (before this call is added to the usage history) and its amount."""
    amount = amount_of(weights, action, params)
    spec = weights.magnitude.get(action)
    runs = weights.run
    factors = {
        "sensitivity": weights.sensitivity_of(action),
        "magnitude": amount / (amount + spec.half_at) if amount is not None and spec is not None else 0.0,
        "external": external_of(weights, action, params),
        "novelty_tool": max(0.0, 1.0 - usage.count / weights.novelty.familiar_after),
        "novelty_amount": novelty_amount(weights, usage, amount),
        "prior_failures": facts.failures / (facts.failures + runs.prior_failures_half_at),
        "steps": min(1.0, step / runs.steps_full_at),
        "pii": facts.pii,
    }
    return {k: round(v, 6) for k, v in factors.items()}, amount


def run_factors(weights: RiskWeights, facts: RunFacts, last_step: int) -> dict[str, float]:
    """A completed run: the highest call-level factors it reached, plus its own history."""
    runs = weights.run
    factors = {name: facts.peaks.get(name, 0.0) for name in FACTORS}
    factors["prior_failures"] = round(facts.failures / (facts.failures + runs.prior_failures_half_at), 6)
    factors["steps"] = round(min(1.0, last_step / runs.steps_full_at), 6)
    factors["pii"] = facts.pii
    return factors


def combine(weights: RiskWeights, factors: dict[str, float]) -> tuple[float, dict[str, float]]:
    """Score and contributions: weight x value over the weights' sum, so contributions add up to the score."""
    total = weights.total_weight
    contributions = {name: round(weights.weights.get(name, 0.0) * value / total, 6)
                     for name, value in factors.items()}
    score = min(1.0, max(0.0, round(sum(contributions.values()), 6)))
    return score, contributions


def explain(contributions: dict[str, float], top: int = 3) -> str:
    """The largest contributions, for a reviewer: 'sensitivity 0.200, external 0.150, magnitude 0.118'."""
    ranked = sorted(((v, k) for k, v in contributions.items() if v > 0), reverse=True)[:top]
    return ", ".join(f"{k} {v:.3f}" for v, k in ranked) or "no factor above 0"
