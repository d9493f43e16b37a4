"""On the embedded durable broker raw batches expire after minutes (ADR 0021): a service that finds the
next offset past where it stood has lost records to that retention, and says so (a counter and an error)
instead of reading on as if nothing happened. Compacted topics and Kafka skip offsets by design: not there."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.runtime.test_app import Counting
from warden.core import topics as names
from warden.core.settings import WardenSettings
from warden.core.topics import expiring
from warden.core.wire import wire_for
from warden.kafka.producer import CheckedProducer
from warden.runtime.task import Slot, Task


def task_on(settings: WardenSettings) -> Task[dict[str, int]]:
    producer = CheckedProducer({"bootstrap.servers": "127.0.0.1:1", "log_level": 0})
    return Task(Counting(), settings, "g", wire_for(settings), producer, Counter())


def test_the_expiring_topics_are_the_raw_ones() -> None:
    found = expiring(168.0)
    assert names.AGENT_EVENTS in found and names.POLICY_DECISIONS in found
    assert names.CONTROL not in found  # compacted: switches and rollouts never expire


def test_a_jump_in_offsets_on_durable_embedded_storage_is_counted_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    task = task_on(WardenSettings(kafka_bootstrap_servers="127.0.0.1:1", broker_storage="s3", topic_prefix="gap-"))
    slot: Slot[dict[str, int]] = Slot({}, None, {("gap-agent.events", 2): 10})
    task._check_gap(slot, "gap-agent.events", 2, 10)  # the next offset: nothing lost
    assert task.counters["records_expired_unread"] == 0
    with caplog.at_level("ERROR"):
        task._check_gap(slot, "gap-agent.events", 2, 17)
    assert task.counters["records_expired_unread"] == 7
    assert "offsets 10-16 were deleted before counting read them (7 records lost" in caplog.text
    assert "gap-agent.events" in task._expiring and "gap-control" not in task._expiring


def test_on_kafka_no_topic_is_watched_for_gaps() -> None:
    assert task_on(WardenSettings(kafka_bootstrap_servers="h:1"))._expiring == set()
    assert task_on(WardenSettings(kafka_bootstrap_servers="h:1", broker_storage="memory"))._expiring == set()
