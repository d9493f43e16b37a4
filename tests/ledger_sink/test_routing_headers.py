"""ADR 0019 at the ledger-sink: it decodes every event anyway, so it checks the routing headers against the body."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from tests.ledger_sink.helpers import simulated, sink_settings, wait_for
from warden.core.headers import TYPE, event_headers
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.ledger.client import Ledger
from warden.ledger_sink.service import LedgerSink

pytestmark = pytest.mark.integration


def count(ledger: Ledger, table: str) -> int:
    return int(ledger.scalar(f"SELECT count() FROM {ledger.database}.{table}"))


def test_an_event_whose_routing_headers_disagree_with_its_body_is_a_dead_letter(
        topics: WardenSettings, ledger: Ledger) -> None:
    """ADR 0019: services pass over events on their headers alone, so the sink, which decodes every one,
    refuses a record whose headers claim another type or time than its body (and lands those that agree)."""
    events = simulated(12, "hdr")
    wire = wire_for(topics)
    producer = Producer({**topics.producer_config(), "enable.idempotence": True})
    topic = topics.topic("agent.events")
    for e in events[1:]:
        producer.produce(topic, wire.encode(e), key=e.run_id.encode(), headers=event_headers(e))
    liar = events[0]
    headers = [(k, b"tool_call_completed" if k == TYPE else v) for k, v in event_headers(liar)]
    producer.produce(topic, wire.encode(liar), key=b"liar", headers=headers)
    assert producer.flush(30) == 0
    assert liar.event_type.value != "tool_call_completed"
    sink = LedgerSink(sink_settings(topics, ledger), ledger).start()
    try:
        wait_for(lambda: count(ledger, "agent_events") >= 11 and count(ledger, "dead_letters") >= 1,
                 step=sink.poll_once, what="11 events and 1 dead letter")
    finally:
        sink.close()
    reasons = dict(ledger.rows(f"SELECT source_key, reason FROM {ledger.database}.dead_letters"))
    assert reasons["liar"] == (f"invalid AgentEvent: header warden.type='tool_call_completed' disagrees with the "
                               f"event's '{liar.event_type.value}'")
    assert count(ledger, "agent_events") == 11
