"""Explicit topic creation: every topic with its partitions and configs, never auto-created."""

from __future__ import annotations

import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from warden.core.errors import BrokerError, BrokerUnavailableError
from warden.core.settings import WardenSettings
from warden.core.topics import TOPICS, TopicSpec, topic_config
from warden.kafka import clients


def admin_client(settings: WardenSettings) -> AdminClient:
    return clients.admin(settings)


def wait_for_broker(settings: WardenSettings, timeout_s: float = 15.0) -> None:
    """Waits (a broker just started, a compose init step); quietly: librdkafka would log every failed
    attempt to stderr, and the error raised at the end says what the last one was."""
    admin = clients.admin(settings, log_level=0)
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=2)
            return
        except KafkaException as exc:
            last = exc
            time.sleep(0.2)
    raise BrokerUnavailableError(
        f"no Kafka broker answered at {settings.bootstrap_servers} within {timeout_s:.0f} s: {last}"
    )


def ensure_topics(settings: WardenSettings, specs: tuple[TopicSpec, ...] = TOPICS) -> list[str]:
    """Create missing topics; returns the names created. Existing topics are left as they are."""
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics(timeout=10).topics)
    except KafkaException as exc:
        raise BrokerUnavailableError(f"cannot list topics at {settings.bootstrap_servers}: {exc}") from exc
    wanted = [
        NewTopic(settings.topic(spec.name), num_partitions=spec.partitions,
                 replication_factor=settings.topic_replication_factor,
                 config=topic_config(spec, settings.topic_retention_hours))
        for spec in specs if settings.topic(spec.name) not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, request_timeout=15).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" in str(exc):
                continue
            raise BrokerError(f"could not create topic {name!r}: {exc}") from exc
    return created
