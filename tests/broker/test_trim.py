"""The embedded durable broker deletes record batches once Warden's services have read them (ADR 0028): a stop of
any length loses nothing unread, and only a partition past the unread ceiling loses its oldest, said loudly."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.broker.test_changelog_ttl import STATEFUL, durable  # noqa: F401 (a fixture)
from tests.broker.test_embedded import client_settings
from warden.broker.admin import ensure_topics
from warden.broker.embedded import REREAD, STACK_GROUPS, EmbeddedBroker, trimmed_topics
from warden.broker.history import StoredBatch, list_batches, records_prefix
from warden.broker.tansu import CLUSTER_ID
from warden.broker.trim import BatchTrimmer, floor_of, plan
from warden.core import topics
from warden.core.settings import WardenSettings
from warden.cost_aggregator.settings import CostAggregatorSettings
from warden.kafka import clients
from warden.ledger_sink.settings import LedgerSinkSettings
from warden.notifier.settings import NotifierSettings


def batch(offset: int, written_at: float = 0.0) -> StoredBatch:
    return StoredBatch(f"records/{offset:0>20}.batch", offset, written_at)


BATCHES = [batch(0), batch(10), batch(20), batch(30), batch(40)]


def offsets(found: list[StoredBatch]) -> list[int]:
    return [b.base_offset for b in found]


def test_a_batch_goes_once_the_next_one_starts_at_or_below_every_groups_offset() -> None:
    assert offsets(plan(BATCHES, 25, now=1000, keep_read_s=60, unread_max=100).read) == [0, 10]
    assert offsets(plan(BATCHES, 20, now=1000, keep_read_s=60, unread_max=100).read) == [0, 10]
    assert offsets(plan(BATCHES, 19, now=1000, keep_read_s=60, unread_max=100).read) == [0]
    assert offsets(plan(BATCHES, 0, now=1000, keep_read_s=60, unread_max=100).read) == []
    everything = plan(BATCHES, 10_000, now=1000, keep_read_s=60, unread_max=100)
    assert offsets(everything.read) == [0, 10, 20, 30]  # the newest stays
    assert everything.unread == []


def test_read_batches_younger_than_the_keep_time_stay_and_so_does_all_after_them() -> None:
    young = [batch(0, 900), batch(10, 990), batch(20, 900), batch(30, 900)]
    assert offsets(plan(young, 100, now=1000, keep_read_s=60, unread_max=100).read) == [0]


def test_with_no_group_committed_on_the_topic_age_alone_decides() -> None:
    aged = [batch(0, 0), batch(10, 100), batch(20, 950), batch(30, 990)]
    assert offsets(plan(aged, None, now=1000, keep_read_s=60, unread_max=100).read) == [0, 10]


def test_unread_batches_stay_however_old_until_the_ceiling() -> None:
    kept = plan(BATCHES, 20, now=10**9, keep_read_s=60, unread_max=3)
    assert offsets(kept.read) == [0, 10] and kept.unread == []
    over = plan(BATCHES, 10, now=10**9, keep_read_s=60, unread_max=2)
    assert offsets(over.read) == [0]
    assert offsets(over.unread) == [10, 20]  # the oldest unread, down to the ceiling: 30 and 40 kept


def test_a_group_that_reads_a_topic_but_not_yet_this_partition_holds_it_at_zero() -> None:
    floors = {("t", 0): {"a": 50, "b": 70}, ("t", 1): {"a": 30}, ("u", 0): {"c": 5}}
    assert floor_of(floors, "t", 0) == (50, {"a": 50, "b": 70})
    assert floor_of(floors, "t", 1) == (0, {"a": 30, "b": 0})
    assert floor_of(floors, "t", 2) == (0, {"a": 0, "b": 0})
    assert floor_of(floors, "v", 0) == (None, {})
    assert floor_of(floors, "v", 0, required=("sink",)) == (0, {"sink": 0})  # nothing goes before it commits
    assert floor_of(floors, "t", 0, required=("sink",)) == (0, {"a": 50, "b": 70, "sink": 0})


def test_the_ledger_sink_reads_every_trimmed_topic() -> None:
    from warden.ledger_rows.tables import TABLES

    settings = WardenSettings(topic_prefix="")
    assert set(trimmed_topics(settings)) <= set(TABLES)  # so it is required on each (embedded.LANDING_GROUP)


def test_the_groups_are_every_committing_service_group_of_the_stack() -> None:
    settings_classes: tuple[type[WardenSettings], ...] = (*STATEFUL, LedgerSinkSettings, NotifierSettings)
    groups = {str(cls.model_fields["group_id"].default) for cls in settings_classes}
    groups.add(f"{CostAggregatorSettings.model_fields['group_id'].default}-budgets")  # its second stage
    assert groups == set(STACK_GROUPS)


def test_every_delete_topic_is_trimmed_but_the_ones_read_again_from_their_start() -> None:
    settings = WardenSettings(topic_prefix="p.")
    trimmed = trimmed_topics(settings)
    assert trimmed[settings.topic(topics.AGENT_EVENTS)] == topics.PARTITIONS[topics.AGENT_EVENTS]
    assert settings.topic(topics.CONTROL) not in trimmed  # compacted: the switches
    assert not {settings.topic(t) for t in REREAD} & set(trimmed)
    assert {topics.APPROVAL_REQUESTS, topics.APPROVAL_DECISIONS, topics.ROLLOUT_DECISIONS} == REREAD


# -- on the real durable broker ---------------------------------------------------------------------------------

TOPIC = topics.AGENT_EVENTS


def produce_batches(settings: WardenSettings, count: int) -> None:
    """``count`` records on partition 0, each its own batch (flushed one by one)."""
    producer = Producer({**settings.producer_config(), "acks": "all", "linger.ms": 0})
    for i in range(count):
        producer.produce(settings.topic(TOPIC), str(i).encode(), partition=0)
        assert producer.flush(10) == 0


def commit(settings: WardenSettings, group: str, offset: int) -> None:
    consumer = Consumer({**settings.kafka_config(), "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(settings.topic(TOPIC), 0, offset)], asynchronous=False)
    consumer.close()


def read_from(settings: WardenSettings, group: str, expected: int) -> list[int]:
    consumer = Consumer({**settings.kafka_config(), "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(settings.topic(TOPIC), 0)])
    got: list[int] = []
    deadline = time.monotonic() + 30
    while len(got) < expected and time.monotonic() < deadline:
        got += [m.offset() for m in consumer.consume(100, 0.5) if m.error() is None]  # type: ignore[misc]
    consumer.close()
    return got


def stored(broker: EmbeddedBroker, settings: WardenSettings) -> list[int]:
    assert broker.storage is not None
    with httpx.Client(timeout=10) as client:
        prefix = records_prefix(CLUSTER_ID, settings.topic(TOPIC), 0)
        return offsets(list_batches(client, broker.storage.s3_url, prefix))


def trimmer_for(broker: EmbeddedBroker, settings: WardenSettings, unread_max: int,
                later_s: float = 3600.0, clock: Callable[[], float] | None = None) -> BatchTrimmer:
    assert broker.storage is not None
    storage = broker.storage
    admin = clients.admin(settings, log_level=0)
    return BatchTrimmer(lambda: storage.s3_url, admin, CLUSTER_ID, {settings.topic(TOPIC): 1},
                        ("sink", "scorer", "never-started"), keep_read_s=120, unread_max=unread_max,
                        clock=clock or (lambda: time.time() + later_s))  # an hour on: every batch past the keep time


@pytest.mark.integration
def test_batches_every_group_read_are_deleted_and_reading_resumes_past_them(
        durable: EmbeddedBroker, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    settings = client_settings(durable.settings)
    ensure_topics(settings)
    produce_batches(settings, 12)
    assert stored(durable, settings) == list(range(12))
    commit(settings, "sink", 9)
    commit(settings, "scorer", 5)  # the slowest reader decides

    trimmer = trimmer_for(durable, settings, unread_max=100)
    done = trimmer.trim_once()
    assert (done.read, done.unread) == (5, 0)
    assert trimmer.held[settings.topic(TOPIC)] == (7, ["scorer"])  # who holds the 7 batches past the keep time
    assert stored(durable, settings) == list(range(5, 12))  # a stop of an hour kept every unread batch
    assert read_from(settings, "scorer", 7) == list(range(5, 12))  # it resumes where it stood, nothing lost

    commit(settings, "scorer", 12)
    assert trimmer.trim_once().read == 4  # 5..8; 9.. unread by the sink
    assert stored(durable, settings) == list(range(9, 12))

    with caplog.at_level(logging.ERROR, logger="warden.broker.trim"):
        ceiling = trimmer_for(durable, settings, unread_max=1).trim_once()
    assert (ceiling.read, ceiling.unread) == (0, 2)
    assert stored(durable, settings) == [11]
    assert "deleting the oldest 2 (offsets 9 to 10), not yet read by sink:" in caplog.text
    assert read_from(settings, "sink", 1) == [11]  # the sink resumes at the first batch kept


@pytest.mark.integration
def test_deleting_read_batches_is_said_in_one_line_a_minute_at_most(
        durable: EmbeddedBroker, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    """It deleted them in silence: an operator could not tell retention was at work."""
    settings = client_settings(durable.settings)
    ensure_topics(settings)
    produce_batches(settings, 4)
    end = max(stored(durable, settings)) + 1
    commit(settings, "sink", end)
    commit(settings, "scorer", end)
    now = [time.time() + 3600]
    trimmer = trimmer_for(durable, settings, unread_max=100, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="warden.broker.trim"):
        deleted = trimmer.trim_once().read
        assert deleted >= 3 and "deleted" not in caplog.text  # not yet a minute since the last line
        now[0] += 61
        assert trimmer.trim_once().read == 0
    assert (f"deleted {deleted} batches every service had read, older than 2 min, in the last 61 s "
            f"({settings.topic(TOPIC)} {deleted})") in caplog.text
