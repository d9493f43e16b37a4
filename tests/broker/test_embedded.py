"""The durable embedded broker (Tansu on SeaweedFS): what it acknowledged survives kill -9 of either
process and a full stop and start; retention becomes SeaweedFS TTLs on record batches only.

These tests run their own durable broker (the session's shared `broker` fixture stays on memory
storage, which is faster for the rest of the suite)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.ledger_sink.helpers import wait_for
from warden.broker.admin import ensure_topics
from warden.broker.embedded import EmbeddedBroker, topic_ttls
from warden.broker.seaweed import filer_conf, seaweed_ttl
from warden.broker.tansu import CLUSTER_ID, free_port
from warden.core import topics
from warden.core.records import ControlKind
from warden.core.settings import WardenSettings
from warden.kafka.control import ControlView, publish

TOPIC = "agent.events"


def embedded_settings(data_dir: Path) -> WardenSettings:
    return WardenSettings(data_dir=data_dir, embedded_broker_port=free_port(), topic_prefix="d.",
                          kafka_extra_config={"log_level": 0})


def client_settings(settings: WardenSettings) -> WardenSettings:
    return settings.model_copy(update={"kafka_bootstrap_servers": settings.bootstrap_servers})


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(embedded_settings(tmp_path / "w"), tmp_path).start()
    try:
        yield broker
    finally:
        broker.stop()


def produce_acked(settings: WardenSettings, start: int, count: int) -> set[int]:
    """Records ``start..start+count`` as the SDK produces them; returns those the broker acknowledged."""
    acked: set[int] = set()

    def delivered(err: object, msg: object) -> None:
        if err is None:
            acked.add(int(msg.value()))  # type: ignore[attr-defined]

    producer = Producer({**settings.producer_config(), "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    for i in range(start, start + count):
        producer.produce(settings.topic(TOPIC), str(i).encode(), key=str(i % 13).encode(), on_delivery=delivered)
    assert producer.flush(30) == 0
    return acked


def read_group(settings: WardenSettings, group: str, expected: int, commit: bool = True,
               timeout_s: float = 30.0) -> list[int]:
    """Read as group ``group`` (from its committed offsets, else the beginning) until ``expected`` records."""
    consumer = Consumer({**settings.kafka_config(), "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    topic = settings.topic(TOPIC)
    consumer.assign([TopicPartition(topic, p) for p in range(topics.PARTITIONS[TOPIC])])
    got: list[int] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < expected and time.monotonic() < deadline:
        got += [int(m.value() or b"-1") for m in consumer.consume(1000, 0.5) if m.error() is None]
    if commit:
        consumer.commit(asynchronous=False)
    consumer.close()
    return got


def switch_in_force(settings: WardenSettings, tenant: str) -> bool:
    view = ControlView(settings)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not view.is_enabled(tenant, "refund_ticket"):
                return True
            time.sleep(0.1)
        return False
    finally:
        view.close()


@pytest.mark.integration
def test_kill_9_of_tansu_and_of_seaweedfs_and_a_full_restart_keep_records_offsets_and_switches(
        durable: EmbeddedBroker, tmp_path: Path) -> None:
    settings = client_settings(durable.settings)
    ensure_topics(settings)
    publish(settings, ControlKind.KILL, "tenant:acme", True, "test", "set before the broker dies")
    acked = produce_acked(settings, 0, 3000)
    assert len(acked) == 3000
    assert sorted(read_group(settings, "reader", 3000)) == list(range(3000))

    for part in ("tansu", "seaweedfs"):
        process = durable.tansu if part == "tansu" else durable.storage
        assert process is not None and process.process is not None
        os.kill(process.process.pid, signal.SIGKILL)
        wait_for(lambda gone=part: gone in durable.dead(), timeout_s=10, what=f"{part} to be gone")  # type: ignore[misc]
        assert part in durable.revive()
        assert not durable.dead()
        more = produce_acked(settings, len(acked), 1000)
        assert len(more) == 1000
        acked |= more
        # The group resumes where it committed: only the records produced since.
        assert sorted(read_group(settings, "reader", 1000)) == sorted(more)
        assert switch_in_force(settings, "acme")

    durable.stop()
    again = EmbeddedBroker(durable.settings, tmp_path).start()
    try:
        assert read_group(settings, "reader", 1, commit=False, timeout_s=3) == []  # nothing past the committed offsets
        assert sorted(read_group(settings, f"fresh-{time.monotonic_ns()}", len(acked))) == sorted(acked)
        assert switch_in_force(settings, "acme")
    finally:
        again.stop()


@pytest.mark.integration
def test_record_batches_of_a_topic_with_retention_get_its_ttl_and_control_batches_none(
        durable: EmbeddedBroker) -> None:
    settings = client_settings(durable.settings)
    ensure_topics(settings)
    produce_acked(settings, 0, 10)
    publish(settings, ControlKind.KILL, "global", True, "test", "compacted topic: kept")
    assert durable.storage is not None

    def ttls(topic: str) -> set[int]:
        found: set[int] = set()
        for p in range(topics.PARTITIONS[topic]):
            path = (f"{durable.storage.filer_url}/buckets/tansu/clusters/{CLUSTER_ID}/topics/"  # type: ignore[union-attr]
                    f"{settings.topic(topic)}/partitions/{p:0>10}/records/")
            listing = httpx.get(path, headers={"Accept": "application/json"}, timeout=10).json()
            found |= {entry["TtlSec"] for entry in listing.get("Entries") or []}
        return found

    assert ttls(topics.AGENT_EVENTS) == {settings.topic_retention_hours * 3600}  # the trimmer goes first (ADR 0028)
    assert ttls(topics.CONTROL) == {0}


def test_ttls_cover_each_partition_of_delete_topics_with_finite_retention() -> None:
    settings = WardenSettings(topic_prefix="p.", topic_retention_hours=1.5)
    ttls = {t.topic: t for t in topic_ttls(settings)}
    assert settings.topic(topics.CONTROL) not in ttls  # compacted: the switches never expire
    assert ttls[settings.topic(topics.AGENT_EVENTS)].minutes == 90
    conf = json.loads(filer_conf(list(ttls.values()), CLUSTER_ID))
    prefixes = [loc["locationPrefix"] for loc in conf["locations"]]
    assert "/buckets/tansu/clusters/tansu_cluster/topics/p.agent.events/partitions/0000000005/records/" in prefixes
    assert len(prefixes) == sum(t.partitions for t in ttls.values())
    assert all(p.endswith("/records/") for p in prefixes)  # never the watermarks or group offsets


def test_batches_are_kept_for_the_topic_retention_and_approvals_a_day_at_most() -> None:
    """Read batches go by the trimmer (ADR 0028), not a TTL that would also take unread ones; the approvals
    topics, which the approvals service reads again from their start, are capped at a day."""
    settings = WardenSettings(topic_prefix="p.")
    ttls = {t.topic: t.minutes for t in topic_ttls(settings)}
    assert ttls[settings.topic(topics.AGENT_EVENTS)] == settings.topic_retention_hours * 60
    assert {ttls[settings.topic(t)] for t in (topics.APPROVAL_REQUESTS, topics.APPROVAL_DECISIONS,
                                              topics.ROLLOUT_DECISIONS)} == {24 * 60}
    short = {t.minutes for t in topic_ttls(WardenSettings(topic_retention_hours=0.01))}
    assert short == {1}  # a shorter topic retention still wins


def test_seaweed_ttl_uses_the_smallest_unit_that_fits_and_rounds_up() -> None:
    assert seaweed_ttl(90) == "90m"
    assert seaweed_ttl(300) == "5h"
    assert seaweed_ttl(7 * 24 * 60) == "168h"
    assert seaweed_ttl(60 * 24 * 60) == "60d"
    assert seaweed_ttl(301) == "6h"  # never shorter than asked
