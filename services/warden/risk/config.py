"""The risk model's configuration: weights and factor tables from a versioned TOML file.

Weights live outside the code so a reviewer can change what counts without a release; the
file's content hash is recorded on every score (weights_version), so any score can be traced
to the exact weights that produced it.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from warden.core.errors import ConfigError
from warden.core.wire import describe
from warden.policy.bundle import DEFAULT_POLICIES

DEFAULT_WEIGHTS = DEFAULT_POLICIES / "risk.toml"
FACTORS = ("sensitivity", "magnitude", "external", "novelty_tool", "novelty_amount", "prior_failures", "steps",
           "pii")
Unit = Field(ge=0.0, le=1.0)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Magnitude(_Section):
    param: str = Field(min_length=1)
    half_at: float = Field(gt=0)


class External(_Section):
    always: frozenset[str] = frozenset()
    recipients: dict[str, str] = Field(default_factory=dict)
    internal_domains: frozenset[str] = frozenset()


class Novelty(_Section):
    familiar_after: int = Field(20, ge=1)
    amount_min_history: int = Field(5, ge=2)
    amount_z_full: float = Field(4.0, gt=1.0)


class RunLimits(_Section):
    prior_failures_half_at: float = Field(2.0, gt=0)
    steps_full_at: int = Field(50, ge=1)


class Routing(_Section):
    step: float = Field(0.02, gt=0, le=0.5)
    initial_threshold: float = Field(0.5, ge=0.0, le=1.0)
    warmup: int = Field(200, ge=0, le=5000)


class RiskWeights(_Section):
    weights: dict[str, float]
    sensitivity: dict[str, float]
    magnitude: dict[str, Magnitude] = Field(default_factory=dict)
    external: External = External()
    novelty: Novelty = Novelty()
    run: RunLimits = RunLimits()
    pii: dict[str, float] = Field(default_factory=dict)
    routing: Routing = Routing()
    version: str = ""

    @model_validator(mode="after")
    def _check(self) -> RiskWeights:
        unknown = sorted(set(self.weights) - set(FACTORS))
        if unknown:
            raise ValueError(f"[weights] has unknown factor(s) {unknown}; known: {list(FACTORS)}")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError(f"[weights] must be non-negative with a positive sum, got {self.weights}")
        for table, values in (("sensitivity", self.sensitivity), ("pii", self.pii)):
            bad = {k: v for k, v in values.items() if not 0.0 <= v <= 1.0}
            if bad:
                raise ValueError(f"[{table}] values must be in [0, 1], got {bad}")
        if "default" not in self.sensitivity:
            raise ValueError("[sensitivity] needs a default for actions it does not list")
        return self

    @property
    def total_weight(self) -> float:
        return sum(self.weights.values())

    def sensitivity_of(self, action: str) -> float:
        return self.sensitivity.get(action, self.sensitivity["default"])


def parse_weights(text: str, source: str = "<text>") -> RiskWeights:
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"risk weights {source} are not valid TOML: {exc}") from exc
    version = hashlib.sha256(text.encode()).hexdigest()[:16]
    try:
        return RiskWeights.model_validate({**data, "version": version})
    except pydantic.ValidationError as exc:
        raise ConfigError(f"risk weights {source} are invalid: {describe(exc)}") from exc


def load_weights(path: Path = DEFAULT_WEIGHTS) -> RiskWeights:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"risk weights file {path} cannot be read: {exc.strerror}") from exc
    return parse_weights(text, str(path))
