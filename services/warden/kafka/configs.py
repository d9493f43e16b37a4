"""Every Kafka client configuration Warden writes, as plain dicts built from settings; nothing else.

The delivery guarantees are written here once, beside the murmur2 partitioner
``WardenSettings.producer_config`` adds: a producer with another partitioner would split a run's
records from its decisions (replay recomputes partitions from keys). On Kafka every producer is
idempotent; on the embedded broker's durable storage it is not, because Tansu's S3 engine can
acknowledge an idempotent batch it never wrote across a kill -9 (``guarantees``, ADR 0014).
No confluent_kafka import: the SDK and the CLI take their configs from here without importing any
client or loop they do not use (clients.py builds clients).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warden.core.settings import WardenSettings

Config = dict[str, Any]
GUARANTEES: Config = {"enable.idempotence": True, "acks": "all"}
# Tansu's S3 engine stores an idempotent producer's sequence and the watermark before the batch: a
# kill -9 in between leaves no batch, and the retry after the restart is answered
# DUPLICATE_SEQUENCE_NUMBER, which librdkafka reports as delivered (acknowledged, lost). Without
# idempotence a retry is written again instead: at least once, in order with one request in flight,
# and every consumer already counts a record id once (the runtime's SeenIds, the ledger's record_id).
AT_LEAST_ONCE: Config = {"enable.idempotence": False, "acks": "all", "max.in.flight.requests.per.connection": 1}
# How the SDK batches (benchmarks that stand in for agent platforms produce with the same settings).
# linger 50 ms: a gated call does not wait for it (authorize flushes), and fuller batches keep the
# embedded broker's fetch cost from climbing (docs/decisions/0007-embedded-broker-fetch-cost.md).
SDK_PRODUCER: Config = {"linger.ms": 50, "compression.type": "lz4"}


def _durable_tansu(settings: WardenSettings) -> bool:
    return settings.tansu_storage == "s3"


def guarantees(settings: WardenSettings) -> Config:
    """Idempotent on Kafka and on the embedded broker's memory storage; at least once on its S3 storage."""
    return AT_LEAST_ONCE if _durable_tansu(settings) else GUARANTEES


@dataclass(frozen=True)
class Fetch:
    """How a consumer fetches. Tansu answers a fetch only when its max wait is up, not when data
    arrives: latency-sensitive readers (the SDK gate waits on them) keep ``wait_ms`` short."""

    wait_ms: int | None = 10  # None: librdkafka's default (500 ms)
    min_bytes: int | None = None
    partition_eof: bool = False  # a reader that must know when it has read a partition to its end
    max_poll_interval_ms: int | None = None


def producer_config(settings: WardenSettings, linger_ms: int | None = None, **extra: Any) -> Config:
    """``guarantees``, acks=all, murmur2; ``extra``: librdkafka settings beyond those (batching, queue sizes,
    timeouts)."""
    conf: Config = {**settings.producer_config(), **guarantees(settings)}
    if linger_ms is not None:
        conf["linger.ms"] = linger_ms
    return {**conf, **extra}


def plain_producer_config(settings: WardenSettings) -> Config:
    """A producer without the guarantees: only for writing records Warden must refuse (the demo's
    malformed records stand in for a foreign client)."""
    return settings.producer_config()


def _fetch(settings: WardenSettings, fetch: Fetch) -> Config:
    """On the embedded durable storage every fetch LISTs each partition's batches on SeaweedFS, and
    Tansu answers it only when the wait is up: with 10 ms waits six tailing consumers read 43% of
    1,000 records/s, with 50 ms all of it (benchmarks/tansu_fetch.py, ADR 0007), hence the floor."""
    conf: Config = {}
    wait = fetch.wait_ms
    if wait is not None and _durable_tansu(settings):
        wait = max(wait, settings.embedded_fetch_wait_ms)
    if wait is not None:
        conf["fetch.wait.max.ms"] = wait
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
            "heartbeat.interval.ms": max(500, settings.group_session_timeout_ms // 5), **_fetch(settings, fetch)}


def reader_config(settings: WardenSettings, group_id: str, fetch: Fetch = Fetch()) -> Config:
    """A consumer whose partitions are assigned by hand (a follower, a view); it never joins or commits
    on its own."""
    return {**settings.kafka_config(), "group.id": group_id, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", **_fetch(settings, fetch)}


def admin_config(settings: WardenSettings) -> Config:
    return settings.kafka_config()
