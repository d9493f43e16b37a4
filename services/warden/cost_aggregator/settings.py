"""cost-aggregator's one settings object."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from warden.core.settings import StatefulServiceSettings
from warden.cost.budgets import DEFAULT_BUDGETS
from warden.cost.prices import DEFAULT_PRICES


class CostAggregatorSettings(StatefulServiceSettings):
    group_id: str = "warden-cost-aggregator"
    prices_file: Path = Field(DEFAULT_PRICES, description="The versioned price table (USD per 1M tokens).")
    budgets_file: Path = Field(DEFAULT_BUDGETS, description="Ceilings, per-task ceilings, the regression rule.")
    lateness_s: float = Field(10.0, ge=0, description="How far behind a partition's event time a window stays open.")
    idle_flush_s: float = Field(5.0, gt=0, description="A partition quiet this long emits its open windows.")
    snapshot_every_s: float = Field(5.0, gt=0, description="How often state is snapshotted (and offsets committed).")
    batch_max_rows: int = Field(2000, ge=1)
    run_cache_size: int = Field(100_000, ge=1, description="Runs whose spend is kept until they complete.")
    dedupe_window: int = Field(20_000, ge=1, description="Event ids remembered per partition, so an event a "
                                                        "client re-sends is counted once.")
    rollup_dedupe_window: int = Field(100_000, ge=1, description="1-minute rollup ids the budgets stage remembers, "
                                                                 "so a rollup re-produced after a crash counts once.")
    budgets_enabled: bool = Field(
        True, description="Track budgets and regression (stage two). It reads every partition of cost.rollups: "
                          "with several replicas, leave it on in exactly one.")
