"""Replay puts each event where the producers did: Kafka's murmur2, checked against the broker."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer

from tests.ledger_sink.helpers import produce, simulated
from warden.core.partitioning import murmur2, partition_for
from warden.core.settings import WardenSettings
from warden.core.topics import AGENT_EVENTS, PARTITIONS


@pytest.mark.parametrize(("key", "expected"), [  # Kafka's own test vectors (UtilsTest.testMurmur2)
    ("21", -973932308), ("foobar", -790332482), ("a-little-bit-long-string", -985981536),
    ("a-little-bit-longer-string", -1486304829), ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    ("abc", 479470107),
])
def test_murmur2_matches_the_java_client(key: str, expected: int) -> None:
    assert murmur2(key.encode()) == expected


def test_partition_for_is_positive_and_refuses_zero_partitions() -> None:
    assert all(0 <= partition_for(f"run-{i}", 6) < 6 for i in range(1000))
    with pytest.raises(ValueError, match="at least 1"):
        partition_for("k", 0)


@pytest.mark.integration
def test_warden_producers_put_every_key_where_partition_for_says(topics: WardenSettings) -> None:
    events = simulated(600, f"part-{uuid.uuid4().hex[:6]}")
    produce(topics, events)
    consumer = Consumer({**topics.kafka_config(), "group.id": f"p-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([topics.topic(AGENT_EVENTS)])
    seen: dict[str, int] = {}
    try:
        for _ in range(100):
            for msg in consumer.consume(1000, 0.5):
                key, partition = msg.key(), msg.partition()
                if msg.error() is None and key is not None and partition is not None:
                    seen[key.decode()] = partition
            if len(seen) == len({e.run_id for e in events}):
                break
    finally:
        consumer.close()
    assert seen and len(set(seen.values())) == PARTITIONS[AGENT_EVENTS]
    assert all(partition == partition_for(key, PARTITIONS[AGENT_EVENTS]) for key, partition in seen.items())
