"""Every Kafka client configuration of the stream services, built here and only here from settings.

The delivery guarantees (idempotence, acks=all) and the murmur2 partitioner are written once:
a producer with another partitioner would split a run's records from its decisions (replay
recomputes partitions from keys), and one without idempotence could duplicate on retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer

from warden.core.settings import WardenSettings
from warden.runtime.producer import CheckedProducer

Config = dict[str, str | int | float | bool]
GUARANTEES: Config = {"enable.idempotence": True, "acks": "all"}


@dataclass(frozen=True)
class Fetch:
    """How a consumer fetches. Tansu answers a fetch only when its max wait is up, not when data
    arrives: latency-sensitive services (the SDK gate waits on them) keep ``wait_ms`` short."""

    wait_ms: int = 10
    min_bytes: int | None = None
    partition_eof: bool = False  # the alerter's caught-up partitions must stop holding back event time
    max_poll_interval_ms: int | None = None


def producer_config(settings: WardenSettings, linger_ms: int | None = None) -> Config:
    conf: Config = {**settings.producer_config(), **GUARANTEES}
    if linger_ms is not None:
        conf["linger.ms"] = linger_ms
    return conf


def producer(settings: WardenSettings, linger_ms: int | None = None) -> CheckedProducer:
    return CheckedProducer(producer_config(settings, linger_ms))


def _fetch(fetch: Fetch) -> Config:
    conf: Config = {"fetch.wait.max.ms": fetch.wait_ms}
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
    """A consumer whose partitions are assigned by hand (a follower); it never joins or commits."""
    return {**settings.kafka_config(), "group.id": group_id, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", **_fetch(fetch)}


def group_consumer(settings: WardenSettings, group_id: str, fetch: Fetch = Fetch()) -> Consumer:
    return Consumer(group_consumer_config(settings, group_id, fetch))


def reader(settings: WardenSettings, group_id: str, fetch: Fetch = Fetch(), **extra: Any) -> Consumer:
    return Consumer({**reader_config(settings, group_id, fetch), **extra})
