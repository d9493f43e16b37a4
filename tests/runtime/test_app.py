"""The runtime on the real broker, with a small counting processor: checkpoints that restore, each id
counted once across a restart, bad records dead-lettered, and no checkpoint past an undelivered output."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from tests.ledger_sink.helpers import produce, simulated, wait_for
from warden.broker.tansu import free_port
from warden.core import topics as names
from warden.core.errors import DeliveryError
from warden.core.events import AgentEvent
from warden.core.output import Output
from warden.core.records import Control, ControlKind, DeadLetter
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.demo.simulator import malformed
from warden.kafka.producer import CheckedProducer
from warden.runtime.app import App
from warden.runtime.processor import BaseProcessor, Input, OnInvalid, Record
from warden.runtime.task import Task
from warden.state.snapshots import SnapshotStore

pytestmark = pytest.mark.integration
AT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


class Counting(BaseProcessor[dict[str, int]]):
    """Counts events per run; every 'run_completed' emits one Control record (any output would do)."""

    name = "counting"
    checkpoint_every_s = 0.2

    def __init__(self, on_invalid: OnInvalid = OnInvalid.SKIP) -> None:
        self.inputs = (Input(names.AGENT_EVENTS, "warden.AgentEvent", on_invalid=on_invalid),)

    def initial(self, partition: int) -> dict[str, int]:
        return {}

    def step(self, state: dict[str, int], record: Record) -> tuple[dict[str, int], list[Output]]:
        event = record.value
        assert isinstance(event, AgentEvent) and record.id == event.event_id and not record.seen_before
        state[event.run_id] = state.get(event.run_id, 0) + 1
        if event.event_type != "run_completed":
            return state, []
        done = Control(kind=ControlKind.KILL, scope=f"workflow:{event.run_id}", active=False, actor="test",
                       reason="run completed", at=event.occurred_at)
        return state, [Output(names.CONTROL, done.key, done)]

    def dump(self, state: dict[str, int]) -> Any:
        return state

    def restore(self, data: Any, partition: int) -> dict[str, int]:
        return dict(data)


def void(_: object) -> None:
    """wait_for's step returns nothing; poll_once returns how many records it handled."""


def app(settings: WardenSettings, group: str, on_invalid: OnInvalid = OnInvalid.SKIP) -> App:
    service = App(settings, "counting")
    service.add(Counting(on_invalid), group, SnapshotStore(settings.data_dir / "state" / group))
    return service.start()


def counts(service: App) -> Counter[str]:
    total: Counter[str] = Counter()
    for slot in service.tasks[0].slots.values():
        total.update(slot.state)
    return total


def test_state_restores_from_its_checkpoint_and_a_resent_event_is_counted_once(topics: WardenSettings) -> None:
    events = simulated(600, "rt-restore", seed=4)
    resent = events[:50]
    produce(topics, events + resent)
    group = f"rt-{uuid.uuid4().hex[:8]}"
    first = app(topics, group)
    try:
        wait_for(lambda: first.counters["events"] >= 650, step=lambda: void(first.poll_once()), what="650 records read")
        assert counts(first) == Counter(e.run_id for e in events)
    finally:
        first.close()  # leaves the group: the revoke checkpoints what it owned
    assert first.counters["duplicates_skipped"] == 50
    later = simulated(200, "rt-restore-2", seed=5)
    produce(topics, resent + later)  # re-sent once more, after the restart
    second = app(topics, group)
    try:
        wait_for(lambda: second.counters["events"] >= 250, step=lambda: void(second.poll_once()),
                 what="the later 250 records")
        assert counts(second) == Counter(e.run_id for e in events + later)
    finally:
        second.close()
    assert second.counters["events"] == 250, "the restart resumed from its checkpoints, not from the start"
    assert second.counters["duplicates_skipped"] == 50


def test_invalid_records_are_dead_lettered_and_the_good_ones_around_them_flow_on(topics: WardenSettings) -> None:
    events = simulated(100, "rt-dead", seed=6)
    bad = malformed(wire_for(topics).codec.encode, 2, AT, 3, "rt-dead")
    produce(topics, events[:50], bad)
    produce(topics, events[50:])
    service = app(topics, f"rt-{uuid.uuid4().hex[:8]}", OnInvalid.DEAD_LETTER)
    try:
        wait_for(lambda: service.counters["events"] >= 103, step=lambda: void(service.poll_once()),
                 what="103 records read")
        assert sum(counts(service).values()) == 100
    finally:
        service.close()
    reader = Consumer({**topics.kafka_config(), "group.id": f"r-{uuid.uuid4().hex[:6]}",
                       "auto.offset.reset": "earliest", "enable.auto.commit": False})
    reader.subscribe([topics.topic(names.DEADLETTER)])
    wire = wire_for(topics)
    letters: list[DeadLetter] = []

    def read() -> None:
        for msg in reader.consume(100, 0.2):
            if msg.error() is None:
                letter = wire.decode(msg.value(), "warden.DeadLetter")
                assert isinstance(letter, DeadLetter)
                letters.append(letter)

    try:
        wait_for(lambda: len(letters) >= 3, step=read, what="3 dead letters")
    finally:
        reader.close()
    assert {letter.service for letter in letters} == {"counting"}
    assert all(letter.reason and letter.source_topic == topics.topic(names.AGENT_EVENTS) for letter in letters)


def test_no_checkpoint_and_no_commit_past_an_output_the_broker_did_not_acknowledge(
        topics: WardenSettings, tmp_path: Path) -> None:
    events = [e for e in simulated(400, "rt-lost", seed=7)]
    produce(topics, events)
    group = f"rt-{uuid.uuid4().hex[:8]}"
    store = SnapshotStore(tmp_path / "state")
    lost = CheckedProducer({"bootstrap.servers": f"127.0.0.1:{free_port()}", "message.timeout.ms": 300,
                            "log_level": 0})
    task: Task[dict[str, int]] = Task(Counting(), topics, group, wire_for(topics), lost, Counter(), store)
    task.start()
    try:
        wait_for(lambda: task.counters["produced:control"] > 0, step=lambda: void(task.poll()), what="an output")
        with pytest.raises(DeliveryError, match="state not saved"):
            task.save()
        assert not list((tmp_path / "state").glob("*.snapshot")), "a checkpoint was written past a lost output"
        committed = task.consumer.committed(task.consumer.assignment(), timeout=10)
        assert all(tp.offset < 0 for tp in committed), committed
    finally:
        task.close()  # the final save fails the same way and is logged, not raised
