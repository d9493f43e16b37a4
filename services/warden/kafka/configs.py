"""Every Kafka client configuration Warden writes, as plain dicts built from settings; nothing else.

The delivery guarantees (idempotence, acks=all) are written here once, beside the murmur2
partitioner ``WardenSettings.producer_config`` adds: a producer with another partitioner would split
a run's records from its decisions (replay recomputes partitions from keys), and one without
idempotence could duplicate on retries. No confluent_kafka import: the SDK and the CLI take their
configs from here without importing any client or loop they do not use (clients.py builds clients).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warden.core.settings import WardenSettings

Config = dict[str, Any]
GUARANTEES: Config = {"enable.idempotence": True, "acks": "all"}
# How the SDK batches (benchmarks that stand in for agent platforms produce with the same settings).
# linger 50 ms: a gated call does not wait for it (authorize flushes), and fuller batches keep the
# embedded broker's fetch cost from climbing (docs/decisions/0007-embedded-broker-fetch-cost.md).
SDK_PRODUCER: Config = {**GUARANTEES, "linger.ms": 50, "compression.type": "lz4"}


@dataclass(frozen=True)
class Fetch:
    """How a consumer fetches. Tansu answers a fetch only when its max wait is up, not when data
    arrives: latency-sensitive readers (the SDK gate waits on them) keep ``wait_ms`` short."""

    wait_ms: int | None = 10  # None: librdkafka's default (500 ms)
    min_bytes: int | None = None
    partition_eof: bool = False  # a reader that must know when it has read a partition to its end
    max_poll_interval_ms: int | None = None


def producer_config(settings: WardenSettings, linger_ms: int | None = None, **extra: Any) -> Config:
    """Idempotent, acks=all, murmur2; ``extra``: librdkafka settings beyond those (queue sizes, timeouts)."""
    conf: Config = {**settings.producer_config(), **GUARANTEES}
    if linger_ms is not None:
        conf["linger.ms"] = linger_ms
    return {**conf, **extra}


def plain_producer_config(settings: WardenSettings) -> Config:
    """A producer without the guarantees: only for writing records Warden must refuse (the demo's
    malformed records stand in for a foreign client)."""
    return settings.producer_config()


def _fetch(fetch: Fetch) -> Config:
    conf: Config = {}
    if fetch.wait_ms is not None:
        conf["fetch.wait.max.ms"] = fetch.wait_ms
    if fetch.min_bytes is not None:
        conf["fetch.min.bytes"] = fetch.min_bytes
    if fetch.partition_eof:
        conf["enable.partition.eof"] = True
    if fetch.max_poll_interval_ms is not None:
        conf["max.poll.interval.ms"] = fetch.max_poll_interval_ms
    return conf


def group_consumer_config(settings: WardenSettings, group_id: str, fetch: Fetch = Fetch()) -> Config:
    """A member of a consumer group: offsets committed by the runtime only, never automatically."""
    return {**settings.kafka_config(), "group.id": group_id, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": settings.group_session_timeout_ms,
            "heartbeat.interval.ms": max(500, settings.group_session_timeout_ms // 5), **_fetch(fetch)}


def reader_config(settings: WardenSettings, group_id: str, fetch: Fetch = Fetch()) -> Config:
    """A consumer whose partitions are assigned by hand (a follower, a view); it never joins or commits
    on its own."""
    return {**settings.kafka_config(), "group.id": group_id, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", **_fetch(fetch)}


def admin_config(settings: WardenSettings) -> Config:
    return settings.kafka_config()
