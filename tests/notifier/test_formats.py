"""Each receiver's payload has the fields its vendor documents; routing follows severity."""

from __future__ import annotations

import json

from pydantic import SecretStr

from tests.alerting.events import at
from warden.core.records import Alert, AlertKind, Severity
from warden.notifier import formats
from warden.notifier.processor import backoff_s, deliveries, permanent, receivers, record_id
from warden.notifier.settings import NotifierSettings


def alert(status: str = "firing", severity: Severity = Severity.PAGE) -> Alert:
    return Alert(alert_id="a-1", kind=AlertKind.UNAUTHORIZED_ACTION, severity=severity, tenant_id="acme",
                 workflow="triage_ticket", run_id="run-9", tool="crm.delete_record",
                 summary="agent attempted <crm.delete_record> & more", first_seen=at(0), last_seen=at(60), count=3,
                 rule="stop_ship", fingerprint="fp1", status=status, value=3.0, threshold=None,
                 labels={"policy_ids": "deletes-denied-v1"})


def test_alertmanager_webhook_v4() -> None:
    body = formats.alertmanager_webhook(alert(), "oncall")
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "oncall"
    assert set(body) >= {"groupKey", "truncatedAlerts", "groupLabels", "commonLabels", "commonAnnotations",
                         "externalURL", "alerts"}
    (one,) = body["alerts"]
    assert one["labels"]["alertname"] == "unauthorized_action" and one["labels"]["severity"] == "page"
    assert one["startsAt"] == "2026-11-02T08:00:00.000Z" and one["endsAt"] == formats.ZERO_TIME
    assert one["fingerprint"] == "fp1" and "summary" in one["annotations"]
    assert "run_id" not in one["labels"] and one["annotations"]["run_id"] == "run-9"  # one label value per run: no
    resolved = formats.alertmanager_webhook(alert("resolved"), "oncall")["alerts"][0]
    assert resolved["status"] == "resolved" and resolved["endsAt"] == "2026-11-02T08:01:00.000Z"


def test_slack_incoming_webhook_escapes_markup() -> None:
    body = formats.slack(alert())
    assert "&lt;crm.delete_record&gt; &amp;" in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["section", "section", "context"]
    assert body["blocks"][0]["text"]["type"] == "mrkdwn"


def test_pagerduty_events_v2_trigger_and_resolve_share_the_dedup_key() -> None:
    trigger = formats.pagerduty(alert())
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == "a-1"
    payload = trigger["payload"]
    assert payload["severity"] == "critical" and payload["source"] and payload["summary"]
    assert payload["timestamp"] == "2026-11-02T08:01:00.000Z" and payload["class"] == "unauthorized_action"
    assert formats.pagerduty(alert("resolved")) == {"event_action": "resolve", "dedup_key": "a-1"}
    assert formats.pagerduty(alert(severity=Severity.TICKET))["payload"]["severity"] == "warning"


def test_receivers_from_settings_route_by_severity_and_keep_secrets_out_of_payloads() -> None:
    settings = NotifierSettings(alertmanager_url="http://127.0.0.1:1/am/", webhook_url="http://127.0.0.1:1/hook",
                                slack_webhook_url=SecretStr("http://127.0.0.1:1/slack"),
                                pagerduty_routing_key=SecretStr("R0UTING-KEY"), pagerduty_url="http://127.0.0.1:1/pd")
    targets = receivers(settings)
    assert [r.name for r in targets] == ["alertmanager", "webhook", "slack", "pagerduty"]
    assert targets[0].url.get_secret_value() == "http://127.0.0.1:1/am/api/v2/alerts"
    page = deliveries(targets, alert())
    assert [d.receiver for d in page] == ["alertmanager", "webhook", "slack", "pagerduty"]
    assert all("R0UTING-KEY" not in d.payload for d in page)
    assert {d.record_id for d in page} == {record_id(alert())} == {"a-1:3"}
    ticket = deliveries(targets, alert(severity=Severity.TICKET), partition=2, offset=41)
    assert [d.receiver for d in ticket] == ["alertmanager", "webhook", "slack"]  # PagerDuty: pages only by default
    assert Alert.model_validate_json(ticket[0].payload) == alert(severity=Severity.TICKET)  # posted at send time
    assert json.loads(ticket[1].payload)["version"] == "4"
    assert (ticket[0].source_partition, ticket[0].source_offset) == (2, 41)
    assert record_id(alert("resolved")) == "a-1:3:resolved"
    assert receivers(NotifierSettings()) == []
    assert "R0UTING-KEY" not in repr(settings)


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_s(n, 1.0, 10.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_an_empty_receiver_setting_means_not_configured() -> None:
    settings = NotifierSettings(alertmanager_url="", webhook_url=" ", slack_webhook_url=SecretStr(""),
                                pagerduty_routing_key=" ")
    assert receivers(settings) == []


def test_only_a_permanent_4xx_parks() -> None:
    assert [s for s in (400, 401, 404, 408, 413, 422, 425, 429, 500, 503) if permanent(s)] == [400, 401, 404, 413, 422]
