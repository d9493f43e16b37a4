"""notifier's one settings object: which receivers get alerts, and how hard to retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator

from warden.core.records import Severity
from warden.core.settings import WardenSettings

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class NotifierSettings(WardenSettings):
    group_id: str = "warden-notifier"
    alertmanager_url: str | None = Field(
        None, description="POST target in Alertmanager's webhook format (e.g. an Alertmanager-compatible bridge).")
    alertmanager_severities: list[Severity] = [Severity.PAGE, Severity.TICKET, Severity.INFO]
    slack_webhook_url: SecretStr | None = Field(None, description="A Slack incoming-webhook URL (it is a secret).")
    slack_severities: list[Severity] = [Severity.PAGE, Severity.TICKET]
    pagerduty_routing_key: SecretStr | None = Field(None, description="Events API v2 integration (routing) key.")
    pagerduty_url: str = PAGERDUTY_EVENTS_URL
    pagerduty_severities: list[Severity] = [Severity.PAGE]
    notify_timeout_s: float = Field(5.0, gt=0, description="One HTTP attempt's timeout.")
    notify_retry_base_s: float = Field(1.0, gt=0, description="First retry delay; doubles per failed attempt.")
    notify_retry_max_s: float = Field(300.0, gt=0, description="Retry delay cap: a down receiver is tried this often.")
    notify_keep_delivered_days: float = Field(7.0, gt=0, description="Delivered entries kept to drop redeliveries.")
    batch_max_rows: int = Field(500, ge=1)

    @field_validator("alertmanager_url", "slack_webhook_url", "pagerduty_routing_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """Compose passes an unset receiver as an empty string: that means "not configured"."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "state" / "notifier" / "outbox.sqlite"
