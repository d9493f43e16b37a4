"""risk-scorer's one settings object."""

from __future__ import annotations

from pathlib import Path

import pydantic
from pydantic import Field, field_validator

from warden.core.errors import ConfigError
from warden.core.settings import StatefulServiceSettings
from warden.core.wire import describe
from warden.risk.config import DEFAULT_WEIGHTS, load_weights
from warden.risk_scorer.processor import RiskConfig

SHARE_RANGE = (0.05, 0.10)


class RiskScorerSettings(StatefulServiceSettings):
    group_id: str = "warden-risk-scorer"
    risk_weights: Path = Field(DEFAULT_WEIGHTS, description="The versioned weights file (policies/risk.toml).")
    risk_review_share: float = Field(
        0.075, description="Share of each workflow's tool calls routed to a human: 0.05 to 0.10 (5-10%).")
    batch_max_rows: int = Field(500, ge=1)
    run_cache_size: int = Field(100_000, ge=1, description="Runs, usage keys and undecided calls kept per partition.")
    snapshot_every_s: float = Field(5.0, gt=0, description="How often partition state is saved (and offsets "
                                                              "committed) while records flow.")

    @field_validator("risk_review_share")
    @classmethod
    def _share(cls, value: float) -> float:
        low, high = SHARE_RANGE
        if not low <= value <= high:
            raise ValueError(f"risk_review_share must be between {low} and {high} (5-10% of calls, as the "
                             f"checklist asks), got {value}")
        return value

    def risk_config(self) -> RiskConfig:
        return RiskConfig(load_weights(self.risk_weights), self.risk_review_share, self.run_cache_size)


def load_settings() -> RiskScorerSettings:
    """From the environment, with a bad value (a share outside 5-10%, say) as a ConfigError naming it."""
    try:
        return RiskScorerSettings()
    except pydantic.ValidationError as exc:
        raise ConfigError(f"risk-scorer settings are invalid: {describe(exc)}") from exc
