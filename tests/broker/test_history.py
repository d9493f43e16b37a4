"""Batch counts on the embedded durable broker: Tansu lists every batch of a partition on each fetch,
so `warden up` warns before a partition holds enough of them for tailing consumers to stall (ADR 0007)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from warden.broker.admin import ensure_topics
from warden.broker.embedded import EmbeddedBroker
from warden.broker.history import STALL_BATCHES, WARN_BATCHES, HistoryWatch, assess, count_batches, records_prefix
from warden.broker.tansu import CLUSTER_ID, free_port
from warden.core import topics
from warden.core.settings import WardenSettings
from warden.stack import Stack


def test_assess_flags_partitions_past_the_warning_level_worst_first() -> None:
    counts = {("a", 0): WARN_BATCHES - 1, ("a", 1): WARN_BATCHES, ("b", 0): STALL_BATCHES + 5}
    found = assess(counts)
    assert [(f.topic, f.partition, f.level) for f in found] == [("b", 0, logging.ERROR), ("a", 1, logging.WARNING)]
    assert "holds 1,005 record batches" in found[0].message(50)
    assert "50 ms fetch waits" in found[0].message(50)
    assert "WARDEN_EMBEDDED_UNREAD_BATCHES_MAX" in found[0].message(50)
    [changelog] = assess({("x.warden-risk-scorer.changelog", 2): STALL_BATCHES})
    assert "WARDEN_EMBEDDED_CHANGELOG_RETENTION_MINUTES" in changelog.message(50)  # checkpoints: their own TTL


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[tuple[EmbeddedBroker, WardenSettings]]:
    settings = WardenSettings(data_dir=tmp_path / "w", embedded_broker_port=free_port(), topic_prefix="h.",
                              kafka_extra_config={"log_level": 0})
    broker = EmbeddedBroker(settings, tmp_path).start()
    try:
        yield broker, settings.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap})
    finally:
        broker.stop()


def produce_batches(settings: WardenSettings, topic: str, partition: int, batches: int) -> None:
    """One flushed record at a time: each is a batch of its own, one object on SeaweedFS."""
    producer = Producer({**settings.producer_config(), "acks": "all", "linger.ms": 0})
    for i in range(batches):
        producer.produce(topic, str(i).encode(), partition=partition)
        assert producer.flush(10) == 0


def test_the_watch_counts_each_partitions_batches_and_reports_a_level_once(
        durable: tuple[EmbeddedBroker, WardenSettings], caplog: pytest.LogCaptureFixture) -> None:
    broker, settings = durable
    ensure_topics(settings)
    topic = settings.topic(topics.AGENT_EVENTS)
    produce_batches(settings, topic, 2, 12)
    assert broker.storage is not None
    storage = broker.storage
    watch = HistoryWatch(lambda: storage.s3_url, CLUSTER_ID, {topic: 6}, 50, warn=10, stall=20)
    counts = watch.counts()
    assert counts[(topic, 2)] == 12
    assert sum(counts.values()) == 12
    with caplog.at_level(logging.WARNING, logger="warden.broker.history"):
        assert [(f.partition, f.level) for f in watch.check()] == [(2, logging.WARNING)]
        assert [(f.partition, f.level) for f in watch.check()] == [(2, logging.WARNING)]
    assert len(caplog.records) == 1  # the same level is not reported again
    assert f"{topic}[2] holds 12 record batches" in caplog.records[0].getMessage()
    produce_batches(settings, topic, 2, 8)
    with caplog.at_level(logging.WARNING, logger="warden.broker.history"):
        assert [(f.partition, f.level) for f in watch.check()] == [(2, logging.ERROR)]
    assert caplog.records[-1].levelno == logging.ERROR


def test_count_batches_reads_every_page(durable: tuple[EmbeddedBroker, WardenSettings]) -> None:
    """More keys than one ListObjectsV2 page: the continuation is followed."""
    broker, _ = durable
    assert broker.storage is not None
    prefix = records_prefix(CLUSTER_ID, "h.pages", 0)
    with httpx.Client() as client:
        for i in range(7):
            assert client.put(f"{broker.storage.s3_url}/tansu/{prefix}{i:0>20}.batch", content=b"x").status_code == 200
        assert count_batches(client, broker.storage.s3_url, prefix) == 7
        assert count_batches(client, broker.storage.s3_url, prefix, page_size=3) == 7  # three pages


def test_warden_up_watches_every_stored_topic_changelogs_included(durable: tuple[EmbeddedBroker, WardenSettings],
                                                          tmp_path: Path) -> None:
    broker, settings = durable
    stack = Stack(settings.model_copy(update={"data_dir": tmp_path / "w"}))
    stack.broker = broker
    stack._watch_storage()
    watch = stack.history
    assert watch is not None and stack.trimmer is not None  # and what deletes read batches (ADR 0028)
    try:
        ensure_topics(settings)
        changelog = settings.topic("risk-scorer.changelog")  # compacted, no TTL: only the count bounds it
        produce_batches(settings, settings.topic(topics.CONTROL), 0, 2)
        admin = AdminClient(settings.kafka_config())
        for future in admin.create_topics([NewTopic(changelog, 6, 1, config={"cleanup.policy": "compact"})]).values():
            future.result(timeout=15)
        produce_batches(settings, changelog, 3, 4)
        counts = watch.counts()
        assert counts[(settings.topic(topics.CONTROL), 0)] == 2
        assert counts[(changelog, 3)] == 4
        assert sum(counts.values()) == 6
    finally:
        watch.stop()
        stack.trimmer.stop()
