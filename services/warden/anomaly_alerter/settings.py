"""anomaly-alerter's one settings object."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from warden.alerting.config import DEFAULT_ALERT_RULES
from warden.core.settings import StatefulServiceSettings
from warden.cost.prices import DEFAULT_PRICES


class AnomalyAlerterSettings(StatefulServiceSettings):
    group_id: str = "warden-anomaly-alerter"
    alert_rules_path: Path = Field(DEFAULT_ALERT_RULES, description="Thresholds per workflow (TOML).")
    prices_path: Path = Field(DEFAULT_PRICES, description="Price table for llm calls that carry no cost_usd.")
    alert_renotify_minutes: float = Field(
        30.0, gt=0, description="A firing alert that keeps growing is re-sent at most this often (event time).")
    alert_lateness_ms: int = Field(
        100, ge=0, description="Disorder of event time allowed inside one partition before a record counts as late.")
    alert_idle_after_s: float = Field(
        0.2, gt=0, description="A caught-up partition silent this long stops holding back event time.")
    alert_decision_wait_s: float = Field(
        10.0, gt=0, description="How long the decisions lane waits for the decision on a tool call it has seen.")
    batch_max_rows: int = Field(2000, ge=1)
    snapshot_interval_s: float = Field(5.0, gt=0, description="How often the alerter's state is saved.")
    call_cache_size: int = Field(100_000, ge=1, description="Tool calls awaiting their policy decision.")

    dedupe_window: int = Field(100_000, ge=1, description="Record ids remembered per lane, so an event a client "
                                                         "re-sends (or a decision produced again) counts once.")
