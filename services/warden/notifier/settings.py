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
        None, description="An Alertmanager (http://alertmanager:9093): alerts are POSTed to its /api/v2/alerts "
                          "as a source, the way Prometheus does (warden.notifier.alertmanager).")
    alertmanager_severities: list[Severity] = [Severity.PAGE, Severity.TICKET, Severity.INFO]
    alertmanager_repost_s: float = Field(
        60.0, gt=0, description="Every alert still firing is posted again this often: keep it well under "
                                "Alertmanager's resolve_timeout (5 min by default), or Alertmanager resolves it.")
    alertmanager_firing_ttl_s: float = Field(
        7200.0, gt=0, description="A firing alert no record refreshed for this long is posted resolved (alerts "
                                  "with no resolve of their own: budgets, rollbacks, refused switches).")
    alertmanager_generator_url: str = Field(
        "http://127.0.0.1:3000/d/warden-operations?var-tenant={tenant_id}&var-workflow={workflow}",
        description="Each alert's generatorURL ({tenant_id} and {workflow} filled in): the operations "
                    "dashboard of the compose Grafana by default; empty: none.")
    webhook_url: str | None = Field(
        None, description="POSTs the body Alertmanager itself sends to webhook receivers (version 4, one alert "
                          "per message): for receivers built to take Alertmanager's notifications.")
    webhook_severities: list[Severity] = [Severity.PAGE, Severity.TICKET, Severity.INFO]
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

    @field_validator("alertmanager_url", "webhook_url", "slack_webhook_url", "pagerduty_routing_key", mode="before")
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
