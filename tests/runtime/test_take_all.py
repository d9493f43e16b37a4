"""A poll batch taken in one loop (Task._take_all) does exactly what taking each record through the
general path does: same steps, passed-over records, counters and positions, whatever the batch mixes
(headers or none, events read or passed over, runs of one partition or not, tombstones), and an offset
gap on an expiring topic is still counted. No broker: the Messages are confluent_kafka's own, built by hand."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Message

from tests.rollout.helpers import run, with_tool_calls
from warden.core import topics as names
from warden.core.events import AgentEvent
from warden.core.headers import Routing, event_headers
from warden.core.output import Output
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.kafka.producer import CheckedProducer
from warden.runtime.processor import BaseProcessor, Input, Passed, Record, Role
from warden.runtime.task import Slot, Task

AT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
State = list[tuple[str, Any]]


class Reading(BaseProcessor[State]):
    """Reads run starts and completions, not of runs named "*-skip" (``wants``); notes all it sees in order."""

    name = "reading"

    def __init__(self) -> None:
        self.inputs = (Input(names.AGENT_EVENTS, "warden.AgentEvent",
                             reads=frozenset({"run_started", "run_completed"})),)

    def initial(self, partition: int) -> State:
        return []

    def step(self, state: State, record: Record) -> tuple[State, list[Output]]:
        assert isinstance(record.value, AgentEvent)
        state.append(("step", (record.partition, record.offset, record.key, record.id, record.value.event_type)))
        return state, []

    def wants(self, state: State, routing: Routing, key: str | None) -> bool:
        return not (key or "").endswith("-skip")

    def passed(self, state: State, record: Passed) -> tuple[State, list[Output]]:
        state.append(("passed", (record.partition, record.offset, record.routing)))
        return state, []

    def dump(self, state: State) -> Any:
        return state

    def restore(self, data: Any, partition: int) -> State:
        return list(data)


class ReadingMany(Reading):
    name = "reading-many"

    def passed_newest(self, state: State, newest: Mapping[tuple[str, int], int]) -> tuple[State, list[Output]]:
        state.append(("many", dict(newest)))
        return state, []


def task_on(processor: Reading, settings: WardenSettings) -> Task[State]:
    producer = CheckedProducer({"bootstrap.servers": "127.0.0.1:1", "log_level": 0})
    return Task(processor, settings, "g", wire_for(settings), producer, Counter())


def batch(settings: WardenSettings) -> list[Message]:
    """Runs of partitions 0, 1, 0 again; with and without headers; passed over on type and on ``wants``;
    a tombstone."""
    wire, topic = wire_for(settings), settings.topic(names.AGENT_EVENTS)
    events = with_tool_calls(run("r-1", "v3", AT)) + with_tool_calls(run("r-2-skip", "v3", AT))
    offsets = Counter[int]()
    out = []
    for i, event in enumerate(events):
        partition = 0 if i < 5 or i >= 9 else 1
        out.append(Message(topic=topic, partition=partition, offset=offsets[partition], key=event.run_id.encode(),
                           value=wire.encode(event), headers=event_headers(event) if i % 3 else None))
        offsets[partition] += 1
    out.append(Message(topic=topic, partition=1, offset=offsets[1], key=b"gone", value=None))
    return out


def one_by_one(task: Task[State], messages: list[Message]) -> None:
    """The general path, a record at a time (what the runtime did before _take_all)."""
    for msg in messages:
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        slot = task.slots[partition]
        spec = task.inputs[topic]
        assert spec.role is Role.MAIN
        task.counters["events"] += 1
        task._handle(msg, slot, spec)
        slot.positions[(topic, partition)] = offset + 1


@pytest.mark.parametrize("processor", [Reading, ReadingMany])
def test_a_batch_taken_at_once_does_what_each_record_taken_alone_does(processor: type[Reading]) -> None:
    settings = WardenSettings(kafka_bootstrap_servers="127.0.0.1:1", topic_prefix="take-")
    messages = batch(settings)
    alone, at_once = task_on(processor(), settings), task_on(processor(), settings)
    for task in (alone, at_once):
        task.slots = {p: Slot(task.processor.initial(p), None) for p in (0, 1)}
    one_by_one(alone, messages)
    assert at_once._take_all(messages, 1.0) == len(messages)
    for task in (alone, at_once):
        task._flush_all_passed()
    assert at_once.counters == alone.counters
    assert at_once.counters["passed_by_header"] > 0 and at_once.counters["not_read"] > at_once.counters[
        "passed_by_header"]  # some passed over on their headers, some (no headers) after decoding
    for p in (0, 1):
        assert at_once.slots[p].state == alone.slots[p].state
        assert at_once.slots[p].positions == alone.slots[p].positions
        assert at_once.slots[p].quiet_since == 1.0
    kinds = {kind for p in (0, 1) for kind, _ in at_once.slots[p].state}
    assert "step" in kinds and kinds & {"passed", "many"}


def test_a_gap_in_a_batch_on_an_expiring_topic_is_counted_once() -> None:
    settings = WardenSettings(kafka_bootstrap_servers="127.0.0.1:1", broker_storage="s3", topic_prefix="take-")
    task = task_on(Reading(), settings)
    task.slots = {p: Slot(task.processor.initial(p), None) for p in (0, 1)}
    messages = [m for m in batch(settings) if m.partition() == 0]
    with_gap = [*messages[:3], *(Message(topic=m.topic(), partition=0, offset=(m.offset() or 0) + 4, key=m.key(),
                                         value=m.value(), headers=m.headers()) for m in messages[3:])]
    task._take_all(with_gap, None)
    assert task.counters["records_expired_unread"] == 4
    assert task.slots[0].positions[(settings.topic(names.AGENT_EVENTS), 0)] == (with_gap[-1].offset() or 0) + 1
