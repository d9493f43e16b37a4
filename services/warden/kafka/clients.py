"""Every Kafka client Warden makes, built here and only here (configs from configs.py).

Producers come in two kinds: the CheckedProducer (its flush says whether every record reached the
broker; the stream services, approvals, the control CLI, evals) and a plain librdkafka Producer for
callers that serve their own delivery reports (the SDK, the tool proxy). This module imports only
confluent_kafka and the configs, never the runtime's loop, so the SDK can import it.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from warden.core.settings import WardenSettings
from warden.kafka.configs import (
    GUARANTEES,
    Config,
    Fetch,
    admin_config,
    group_consumer_config,
    plain_producer_config,
    producer_config,
    reader_config,
)
from warden.kafka.producer import CheckedProducer

__all__ = ["GUARANTEES", "Config", "Fetch", "admin", "group_consumer", "group_consumer_config", "plain_producer",
           "producer", "producer_config", "raw_producer", "reader", "reader_config"]


def producer(settings: WardenSettings, linger_ms: int | None = None, **extra: Any) -> CheckedProducer:
    return CheckedProducer(producer_config(settings, linger_ms, **extra))


def raw_producer(config: Config) -> Producer:
    """A librdkafka producer from a config made by configs.py (the caller serves its delivery reports)."""
    return Producer(config)


def plain_producer(settings: WardenSettings) -> Producer:
    """Without the guarantees: for records Warden must refuse (the demo's malformed ones)."""
    return Producer(plain_producer_config(settings))


def group_consumer(settings: WardenSettings, group_id: str, fetch: Fetch = Fetch()) -> Consumer:
    return Consumer(group_consumer_config(settings, group_id, fetch))


def reader(settings: WardenSettings, group_id: str, fetch: Fetch = Fetch(), **extra: Any) -> Consumer:
    return Consumer({**reader_config(settings, group_id, fetch), **extra})


def admin(settings: WardenSettings, **extra: Any) -> AdminClient:
    return AdminClient({**admin_config(settings), **extra})
