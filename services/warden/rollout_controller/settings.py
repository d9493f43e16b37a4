"""rollout-controller's one settings object (replay reads the same, so both judge alike)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field

from warden.core.settings import StatefulServiceSettings
from warden.cost.prices import DEFAULT_PRICES, PriceTable
from warden.rollout.controller import ControllerConfig


class RolloutControllerSettings(StatefulServiceSettings):
    group_id: str = "warden-rollout-controller"
    rollout_settle_s: float = Field(
        10.0, ge=0, description="Event time a cut-off waits for decisions and pages about runs that ended before it.")
    rollout_idle_after_s: float = Field(
        0.2, gt=0, description="A partition at its end this long (wall time) stops holding the clock.")
    prices_path: Path = Field(DEFAULT_PRICES, description="Prices for llm_calls without cost_usd (as cost-aggregator).")
    snapshot_every_s: float = Field(2.0, gt=0)
    batch_max_rows: int = Field(500, ge=1)

    def controller_config(self) -> ControllerConfig:
        return ControllerConfig(PriceTable.load(self.prices_path), timedelta(seconds=self.rollout_settle_s))
