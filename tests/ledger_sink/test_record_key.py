"""agent.events is keyed by run_id (DESIGN.md), and the rollout-controller passes over an event on its key
alone (issue 11): the ledger-sink, which decodes every event, refuses one whose key is another run's."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from tests.ledger_sink.helpers import simulated, sink_settings, wait_for
from warden.core.headers import event_headers
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.ledger.client import Ledger
from warden.ledger_sink.service import LedgerSink

pytestmark = pytest.mark.integration


def count(ledger: Ledger, table: str) -> int:
    return int(ledger.scalar(f"SELECT count() FROM {ledger.database}.{table}"))


def test_an_event_keyed_by_another_run_is_a_dead_letter_and_the_events_around_it_land(
        topics: WardenSettings, ledger: Ledger) -> None:
    events = simulated(12, "key")
    stray, keyless = events[5], events[7]
    wire = wire_for(topics)
    producer = Producer({**topics.producer_config(), "enable.idempotence": True})
    topic = topics.topic("agent.events")
    for e in events:
        key = b"someone-elses-run" if e is stray else None if e is keyless else e.run_id.encode()
        producer.produce(topic, wire.encode(e), key=key, headers=event_headers(e))
    assert producer.flush(30) == 0
    sink = LedgerSink(sink_settings(topics, ledger), ledger).start()
    try:
        wait_for(lambda: count(ledger, "agent_events") >= 11 and count(ledger, "dead_letters") >= 1,
                 step=sink.poll_once, what="11 events and 1 dead letter")
        sink.flush()
    finally:
        sink.close()
    letters = ledger.rows(f"SELECT source_key, error_kind, reason FROM {ledger.database}.dead_letters")
    assert letters == [("someone-elses-run", "validate",
                        f"invalid AgentEvent: the record key 'someone-elses-run' is not the event's run_id "
                        f"'{stray.run_id}' (agent.events is keyed by run_id)")]
    landed = {r[0] for r in ledger.rows(f"SELECT event_id FROM {ledger.database}.agent_events")}
    assert landed == {e.event_id for e in events} - {stray.event_id}  # a key-less event is not refused
