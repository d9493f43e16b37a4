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
from warden.notifier import alertmanager, formats
from warden.notifier.settings import NotifierSettings


class ReceiverKind(StrEnum):
    ALERTMANAGER = "alertmanager"  # Alertmanager's alerts API, as a source (the payload is the Alert's JSON)
    WEBHOOK = "webhook"  # the body Alertmanager sends to its webhook receivers
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
    source_partition: int = -1  # where the alert was on the topic (a parked delivery's dead letter says so)
    source_offset: int = -1


def receivers(settings: NotifierSettings) -> list[Receiver]:
    out = []
    if settings.alertmanager_url:
        out.append(Receiver("alertmanager", ReceiverKind.ALERTMANAGER,
                            SecretStr(alertmanager.alerts_url(settings.alertmanager_url)),
                            frozenset(settings.alertmanager_severities)))
    if settings.webhook_url:
        out.append(Receiver("webhook", ReceiverKind.WEBHOOK, SecretStr(settings.webhook_url),
                            frozenset(settings.webhook_severities)))
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


def deliveries(targets: list[Receiver], alert: Alert, partition: int = -1, offset: int = -1) -> list[Delivery]:
    out = []
    for receiver in targets:
        if alert.severity not in receiver.severities:
            continue
        if receiver.kind == ReceiverKind.ALERTMANAGER:
            payload = alert.model_dump_json()  # the post depends on what else fires then: made at send time
        else:
            if receiver.kind == ReceiverKind.WEBHOOK:
                body = formats.alertmanager_webhook(alert, receiver.name)
            elif receiver.kind == ReceiverKind.SLACK:
                body = formats.slack(alert)
            else:
                body = formats.pagerduty(alert)
            payload = json.dumps(body, separators=(",", ":"))
        out.append(Delivery(record_id(alert), receiver.name, payload, partition, offset))
    return out


def permanent(status: int) -> bool:
    """A 4xx says this body will never be taken (retrying it would hold up every later alert), except
    408, 425 and 429, which ask to come back later."""
    return 400 <= status < 500 and status not in (408, 425, 429)


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential: base, 2*base, 4*base ... capped, so a receiver that is down is not hammered."""
    return float(min(max_s, base_s * 2 ** max(0, attempts - 1)))
