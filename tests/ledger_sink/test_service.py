"""ledger-sink against the real Tansu broker and the real ClickHouse engine (chDB)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Message, Producer

from tests.core.samples import DEEP, avro_with
from tests.ledger_sink.helpers import produce, simulated, sink_settings, wait_for
from warden.broker.tansu import free_port
from warden.core.errors import DeliveryError
from warden.core.settings import WardenSettings
from warden.core.topics import DEADLETTER
from warden.core.wire import wire_for
from warden.demo.simulator import malformed
from warden.ledger.client import Ledger
from warden.ledger.verify import verify
from warden.ledger_sink.service import LedgerSink
from warden.runtime.producer import CheckedProducer

pytestmark = pytest.mark.integration


def count(ledger: Ledger, table: str, where: str = "1") -> int:
    return int(ledger.scalar(f"SELECT count() FROM {ledger.database}.{table} WHERE {where}"))


def test_good_events_land_once_and_every_kind_of_bad_record_is_dead_lettered(
        topics: WardenSettings, ledger: Ledger) -> None:
    events = simulated(600, "svc")
    bad = malformed(wire_for(topics).codec.encode, 1, events[0].occurred_at, 7, "svc")
    produce(topics, events[:300], bad)
    produce(topics, events[300:])
    sink = LedgerSink(sink_settings(topics, ledger, batch_max_rows=200), ledger).start()
    try:
        wait_for(lambda: count(ledger, "agent_events") >= 600 and count(ledger, "dead_letters") >= 7,
                 step=sink.poll_once, what="600 events and 7 dead letters")
    finally:
        sink.close()
    assert count(ledger, "agent_events") == 600
    assert ledger.scalar(f"SELECT uniqExact(event_id) FROM {ledger.database}.agent_events") == 600
    reasons = dict(ledger.rows(f"SELECT source_key, reason FROM {ledger.database}.dead_letters"))
    by_kind = " | ".join(sorted(reasons.values()))
    assert "found 0x7b" in by_kind  # garbage bytes
    assert "unknown schema id 999" in by_kind
    assert "truncated or corrupt Avro body" in by_kind
    assert "step: Input should be greater than or equal to 1" in by_kind
    assert "input_tokens: Input should be greater than or equal to 0" in by_kind
    assert "body is a LlmCall but event_type 'tool_call_requested'" in by_kind
    assert "params must be a JSON object" in by_kind
    raw, offset, topic = ledger.rows(
        f"SELECT raw, source_offset, source_topic FROM {ledger.database}.dead_letters "
        "WHERE reason LIKE '%0x7b%'")[0]
    assert base64.b64decode(raw).startswith(b'{"not"')
    assert topic == topics.topic("agent.events") and offset >= 0
    assert sink.metrics.counters['dead_letters:kind="decode",topic="agent.events"'] == 3
    assert sink.metrics.counters['dead_letters:kind="validate",topic="agent.events"'] == 4
    assert verify(ledger, sink.settings.chain_keys()).ok


def test_dead_letters_are_published_on_the_deadletter_topic(topics: WardenSettings, ledger: Ledger) -> None:
    produce(topics, [], [(b"k1", b"garbage bytes")])
    sink = LedgerSink(sink_settings(topics, ledger), ledger).start()
    try:
        wait_for(lambda: count(ledger, "dead_letters") >= 1, step=sink.poll_once, what="a dead letter")
    finally:
        sink.close()
    consumer = Consumer({**topics.kafka_config(), "group.id": f"dl-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([topics.topic(DEADLETTER)])
    wire = wire_for(topics)
    letters: list[Message] = []

    def read() -> None:
        letters.extend(m for m in consumer.consume(10, 0.5) if not m.error())

    try:
        wait_for(lambda: bool(letters), step=read, what="the deadletter topic")
    finally:
        consumer.close()
    letter = wire.decode(letters[0].value(), "warden.DeadLetter")
    assert letter.raw == b"garbage bytes"  # type: ignore[attr-defined]
    assert letter.source_key == "k1"  # type: ignore[attr-defined]


def test_a_flush_that_landed_but_never_committed_is_not_landed_twice(
        topics: WardenSettings, ledger: Ledger) -> None:
    """The crash window of an at-least-once consumer: rows inserted, offsets not committed."""
    events = simulated(900, "crash")
    produce(topics, events)
    settings = sink_settings(topics, ledger, batch_max_rows=400)
    first = LedgerSink(settings, ledger).start()
    landed: list[object] = []

    def land_without_commit() -> None:
        if first.fill_buffer():
            landed.extend(first.land_buffered())

    wait_for(lambda: bool(landed), step=land_without_commit, what="one landed flush")
    first.close()  # "crash": no commit
    assert 0 < count(ledger, "agent_events") < 900
    second = LedgerSink(settings, ledger).start()
    try:
        wait_for(lambda: count(ledger, "agent_events") >= 900, step=second.poll_once, what="900 events")
        for _ in range(10):
            second.poll_once()
    finally:
        second.close()
    assert count(ledger, "agent_events") == 900
    assert ledger.scalar(f"SELECT uniqExact(event_id) FROM {ledger.database}.agent_events") == 900
    assert second.metrics.counters["duplicates_skipped"] > 0
    assert verify(ledger, settings.chain_keys()).ok


def test_backdated_events_of_many_months_land_and_stay(topics: WardenSettings, ledger: Ledger) -> None:
    """Retention counts from ingestion, and one batch may span any number of months."""
    events = simulated(120, "months")
    dated = [e.model_copy(update={"occurred_at": datetime(1970 + i // 12, i % 12 + 1, 1, tzinfo=UTC)})
             for i, e in enumerate(events)]
    produce(topics, dated)
    sink = LedgerSink(sink_settings(topics, ledger, batch_max_rows=500), ledger).start()
    try:
        wait_for(lambda: count(ledger, "agent_events") >= 120, step=sink.poll_once, what="120 backdated events")
    finally:
        sink.close()
    ledger.command(f"OPTIMIZE TABLE {ledger.database}.agent_events FINAL")  # applies TTL now
    assert count(ledger, "agent_events") == 120
    assert verify(ledger, sink.settings.chain_keys()).ok


def test_a_replayed_decision_is_landed_once_whenever_it_comes(topics: WardenSettings, ledger: Ledger) -> None:
    from tests.core.samples import every_record
    from warden.core.records import PolicyDecision

    decision = next(r for r in every_record() if isinstance(r, PolicyDecision))
    wire = wire_for(topics)
    producer = Producer(topics.producer_config())
    sink = LedgerSink(sink_settings(topics, ledger, batch_max_rows=10), ledger).start()
    try:
        for _ in range(3):  # the evaluator re-sends it after each of its own restarts
            producer.produce(topics.topic("policy.decisions"), wire.encode(decision), key=b"run-1")
            producer.flush(10)
            for _ in range(40):
                sink.poll_once()
    finally:
        sink.close()
    assert count(ledger, "policy_decisions") == 1


def test_a_hostile_event_is_a_dead_letter_naming_the_limit_and_its_neighbours_land(
        topics: WardenSettings, ledger: Ledger) -> None:
    """Issue 13: params nested 10,000 levels deep raised RecursionError out of the sink's decode."""
    events = simulated(20, "hostile")
    wire = wire_for(topics)
    hostile = [(b"deep", avro_with(wire, "tool_call_requested", params='{"a": ' + DEEP + "}")),
               (b"twice", avro_with(wire, "tool_call_requested", params='{"amount_usd": 5, "amount_usd": 500}'))]
    produce(topics, events[:10], hostile)
    produce(topics, events[10:])
    sink = LedgerSink(sink_settings(topics, ledger), ledger).start()
    try:
        wait_for(lambda: count(ledger, "agent_events") >= 20 and count(ledger, "dead_letters") >= 2,
                 step=sink.poll_once, what="20 events and 2 dead letters")
    finally:
        sink.close()
    reasons = dict(ledger.rows(f"SELECT source_key, reason FROM {ledger.database}.dead_letters"))
    assert "params nests deeper than the limit of 32 levels (WARDEN_LIMIT_JSON_DEPTH)" in reasons["deep"]
    assert "has the key 'amount_usd' twice" in reasons["twice"]
    assert count(ledger, "agent_events") == 20


def test_no_offset_is_committed_past_a_dead_letter_the_broker_did_not_acknowledge(
        topics: WardenSettings, ledger: Ledger) -> None:
    """Issue 14: the sink took ``flush() == 0`` for proof that its dead letters were delivered, but a
    letter that failed for good has left the queue too; its record's offset was committed and it was lost."""
    events = simulated(30, "lost-letter")
    produce(topics, events[:10], [(b"garbage", b'{"not": "avro"}')])
    produce(topics, events[10:])
    sink = LedgerSink(sink_settings(topics, ledger, batch_max_rows=10_000, batch_max_ms=60_000), ledger)
    lost = CheckedProducer({"bootstrap.servers": f"127.0.0.1:{free_port()}", "message.timeout.ms": 300,
                            "log_level": 0})
    sink.producer = sink.task.producer = lost  # every dead letter it produces fails for good
    sink.start()
    try:
        wait_for(lambda: sink.metrics.counters["consumed"] >= 31, step=lambda: void(sink.fill_buffer()),
                 what="every record read")
        with pytest.raises(DeliveryError, match="not delivered"):
            sink.flush()
        committed = sink.task.consumer.committed(sink.task.consumer.assignment(), timeout=10)
        assert all(tp.offset < 0 for tp in committed), committed
        assert count(ledger, "agent_events") == 0  # landed only once its dead letters are confirmed
    finally:
        sink.close()


def void(_: object) -> None:
    """wait_for's step returns nothing."""
