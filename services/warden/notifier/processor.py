"""The notifier's pure part: which receivers get an alert, in what payload, and when to retry.

A processor in the project's sense: (receivers, alert) -> deliveries, no I/O. The shell puts
deliveries in the durable outbox and workers post them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr

from warden.core import topics
from warden.core.records import Alert, Severity
from warden.ledger_rows.tables import TABLES
from warden.notifier import formats
from warden.notifier.settings import NotifierSettings


class ReceiverKind(StrEnum):
    ALERTMANAGER = "alertmanager"
    SLACK = "slack"
    PAGERDUTY = "pagerduty"


@dataclass(frozen=True)
class Receiver:
    name: str
    kind: ReceiverKind
    url: SecretStr  # Slack's webhook URL is itself a credential
    severities: frozenset[Severity]
    routing_key: SecretStr | None = None


@dataclass(frozen=True)
class Delivery:
    record_id: str  # the ledger's id of the alert record: alert_id:count[:resolved]
    receiver: str
    payload: str  # JSON, without secrets


def receivers(settings: NotifierSettings) -> list[Receiver]:
    out = []
    if settings.alertmanager_url:
        out.append(Receiver("alertmanager", ReceiverKind.ALERTMANAGER, SecretStr(settings.alertmanager_url),
                            frozenset(settings.alertmanager_severities)))
    if settings.slack_webhook_url is not None:
        out.append(Receiver("slack", ReceiverKind.SLACK, settings.slack_webhook_url,
                            frozenset(settings.slack_severities)))
    if settings.pagerduty_routing_key is not None:
        out.append(Receiver("pagerduty", ReceiverKind.PAGERDUTY, SecretStr(settings.pagerduty_url),
                            frozenset(settings.pagerduty_severities), settings.pagerduty_routing_key))
    return out


def record_id(alert: Alert) -> str:
    """The same id the ledger lands the record under, so both dedupe the same way."""
    return str(TABLES[topics.ALERTS].record_id(alert))


def deliveries(targets: list[Receiver], alert: Alert) -> list[Delivery]:
    out = []
    for receiver in targets:
        if alert.severity not in receiver.severities:
            continue
        if receiver.kind == ReceiverKind.ALERTMANAGER:
            body = formats.alertmanager(alert, receiver.name)
        elif receiver.kind == ReceiverKind.SLACK:
            body = formats.slack(alert)
        else:
            body = formats.pagerduty(alert)
        out.append(Delivery(record_id(alert), receiver.name, json.dumps(body, separators=(",", ":"))))
    return out


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential: base, 2*base, 4*base ... capped, so a receiver that is down is not hammered."""
    return float(min(max_s, base_s * 2 ** max(0, attempts - 1)))
