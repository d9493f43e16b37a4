"""The live notifier on the real broker, posting to real loopback HTTP receivers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from tests.alerting.events import at
from tests.ledger_sink.helpers import wait_for
from tests.notifier.receiver import Receiver
from tests.running import in_thread
from tests.tool_proxy.running import read
from warden.core import topics
from warden.core import topics as warden_topics
from warden.core.records import Alert, AlertKind, DeadLetter, Severity
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.notifier.service import Notifier
from warden.notifier.settings import NotifierSettings
from warden.runtime.metrics import render

pytestmark = pytest.mark.integration


def alerts(n: int, severity: Severity = Severity.PAGE) -> list[Alert]:
    return [Alert(alert_id=f"alert-{i}", kind=AlertKind.REPEATED_TOOL_FAILURES, severity=severity, tenant_id="acme",
                  workflow="*", tool="payments", summary=f"payments failed ({i})", first_seen=at(i), last_seen=at(i),
                  count=5, rule="tool_error_burst", fingerprint=f"fp{i}") for i in range(n)]


def publish(settings: WardenSettings, records: list[Alert]) -> None:
    wire = wire_for(settings)
    producer = Producer(settings.kafka_config())
    for record in records:
        producer.produce(settings.topic(topics.ALERTS), wire.encode(record), key=record.tenant_id.encode())
    assert producer.flush(10) == 0


def notifier_settings(base: WardenSettings, **receivers: Any) -> NotifierSettings:
    return NotifierSettings(**{**base.model_dump(), "group_id": f"n-{uuid.uuid4().hex[:8]}",
                               "notify_retry_base_s": 0.05, "notify_retry_max_s": 0.4, "notify_timeout_s": 2.0,
                               **receivers})


@contextmanager
def running(settings: NotifierSettings) -> Iterator[Notifier]:
    with in_thread(Notifier(settings).start()) as service:
        yield service


def ids(receiver: Receiver, key: str) -> list[str]:
    out = []
    for body in receiver.received():
        if key == "webhook":
            out.append(body["alerts"][0]["annotations"]["alert_id"])
        elif key == "pagerduty":
            out.append(body["dedup_key"])
        else:
            out.append(body["text"].split("(")[-1].rstrip(")"))
    return out


def test_every_receiver_gets_every_alert_in_order_while_one_fails_and_one_is_down(topics: WardenSettings) -> None:
    healthy, flaky, down = Receiver().start(), Receiver().start(), Receiver()  # `down` is not listening yet
    flaky.fail_with = 503
    settings = notifier_settings(topics, webhook_url=healthy.url, slack_webhook_url=SecretStr(flaky.url),
                                 pagerduty_routing_key=SecretStr("rk-123"), pagerduty_url=down.url)
    records = alerts(12)
    try:
        with running(settings) as service:
            publish(topics, records)
            # the healthy receiver is not held up by the other two
            wait_for(lambda: len(healthy.received()) == 12, what="12 alerts at the healthy receiver")
            assert flaky.received() == [] and flaky.attempts >= 1
            assert service.outbox.pending("pagerduty") == 12 and service.outbox.pending("slack") == 12
            flaky.fail_with = None
            down.start()
            wait_for(lambda: len(flaky.received()) == 12 and len(down.received()) == 12, timeout_s=30,
                     what="the recovered receivers to catch up")
            assert service.outbox.pending() == 0
            assert service.workers["pagerduty"].counters["failed_attempts"] >= 1
    finally:
        for receiver in (healthy, flaky, down):
            receiver.stop()
    expected = [f"alert-{i}" for i in range(12)]
    assert ids(healthy, "webhook") == expected
    assert ids(down, "pagerduty") == expected
    assert all(body["routing_key"] == "rk-123" and body["event_action"] == "trigger" for body in down.received())
    assert len(flaky.received()) == 12


def test_undelivered_alerts_are_delivered_after_a_restart_and_never_twice(topics: WardenSettings) -> None:
    receiver = Receiver()
    settings = notifier_settings(topics, webhook_url=receiver.url)
    records = alerts(5)
    with running(settings) as service:
        publish(topics, records)
        wait_for(lambda: service.outbox.pending("webhook") == 5, what="5 alerts owed to the down receiver")
    receiver.start()
    try:
        with running(settings) as service:  # same data dir and group: the outbox and offsets survive
            wait_for(lambda: len(receiver.received()) == 5, what="the owed alerts after the restart")
            publish(topics, records[:2])  # the topic hands two over again: the outbox drops them
            publish(topics, alerts(6)[5:])
            wait_for(lambda: len(receiver.received()) == 6, what="the one new alert")
            # the outbox marks an entry delivered once the receiver's answer is read, just after it arrives
            wait_for(lambda: service.outbox.pending() == 0, timeout_s=10, what="the outbox to be empty")
    finally:
        receiver.stop()
    assert ids(receiver, "webhook") == [f"alert-{i}" for i in range(6)]


def test_no_receivers_means_alerts_are_read_and_only_land_in_the_ledger(
        topics: WardenSettings, caplog: pytest.LogCaptureFixture) -> None:
    settings = notifier_settings(topics)
    with caplog.at_level("WARNING", logger="warden.notifier"), running(settings) as service:
        publish(topics, alerts(3))
        wait_for(lambda: service.counters["alerts"] == 3, what="3 alerts read")
        assert service.outbox.pending() == 0
    assert "no receivers configured" in caplog.text and "only land in the ledger" in caplog.text


def test_an_alert_the_receiver_refuses_for_good_is_parked_and_the_ones_behind_it_are_delivered(
        topics: WardenSettings) -> None:
    """Regression: one alert answered 400 was retried forever and every later alert queued behind it."""
    receiver = Receiver().start()
    receiver.refuse = lambda body: 400 if body["alerts"][0]["annotations"]["alert_id"] == "alert-2" else None
    settings = notifier_settings(topics, webhook_url=receiver.url)
    try:
        with running(settings) as service:
            publish(topics, alerts(6))
            wait_for(lambda: len(receiver.received()) == 5, timeout_s=30, what="the 5 alerts around the refused one")
            wait_for(lambda: service.outbox.parked("webhook", unreported=True) == 0, what="the parked one reported")
            assert service.outbox.pending() == 0 and service.outbox.parked("webhook") == 1
            [entry] = service.outbox.parked_entries("webhook")
            assert entry.record_id == "alert-2:5" and entry.parked_reason is not None
            assert "HTTP 400" in entry.parked_reason and "refused it for good" in entry.parked_reason
            text = render()[0].decode()
            assert 'warden_notifier_parked_total{receiver="webhook",status="400"} 1.0' in text
            assert 'warden_notifier_outbox_parked{receiver="webhook"} 1.0' in text
            assert 'warden_notifier_delivery_attempts_total{receiver="webhook",result="delivered"} 5.0' in text
    finally:
        receiver.stop()
    assert ids(receiver, "webhook") == ["alert-0", "alert-1", "alert-3", "alert-4", "alert-5"]
    [letter] = read(topics, warden_topics.DEADLETTER, "warden.DeadLetter", lambda r: len(r) >= 1)
    assert isinstance(letter, DeadLetter) and letter.service == "notifier"
    assert letter.source_key == "alert-2:5" and letter.source_topic == topics.topic(warden_topics.ALERTS)
    assert letter.reason.startswith("parked: webhook refused it for good: HTTP 400")
    assert letter.source_offset >= 0 and json.loads(letter.raw)["alerts"][0]["annotations"]["alert_id"] == "alert-2"
