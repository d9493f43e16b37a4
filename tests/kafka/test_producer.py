"""A flush that returns 0 is not proof of delivery: a record that failed for good has left the queue too."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from warden.broker.tansu import free_port
from warden.core.errors import DeliveryError
from warden.core.settings import WardenSettings
from warden.core.topics import ALERTS
from warden.kafka.producer import CheckedProducer


def unreachable(timeout_ms: int) -> dict[str, object]:
    """A real librdkafka producer aimed at a port nothing listens on: its records time out."""
    return {"bootstrap.servers": f"127.0.0.1:{free_port()}", "message.timeout.ms": timeout_ms, "log_level": 0}


def test_plain_flush_reports_nothing_left_for_a_record_that_timed_out() -> None:
    """Why CheckedProducer exists: this is what the services trusted before."""
    producer = Producer(unreachable(300))
    producer.produce("t", b"x")
    assert producer.flush(10) == 0


def test_a_record_that_timed_out_raises_naming_what_was_lost_and_keeps_raising() -> None:
    producer = CheckedProducer(unreachable(300))
    producer.produce("t", b"x", key=b"k")
    with pytest.raises(DeliveryError, match=r"decisions \(offsets not committed\) not delivered.*t: .*timed out"):
        producer.flush_or_raise(10, "decisions (offsets not committed)")
    # a service saving its state on the way out must not save past the lost record
    with pytest.raises(DeliveryError, match="timed out"):
        producer.flush_or_raise(1, "state on shutdown")
    producer.forget_failures()  # a caller that answered for it (approvals undoes the decision)
    producer.flush_or_raise(1, "the next decision")


def test_records_the_broker_acknowledged_pass(topics: WardenSettings) -> None:
    producer = CheckedProducer({**topics.producer_config(), "enable.idempotence": True, "acks": "all"})
    for i in range(100):
        producer.produce(topics.topic(ALERTS), b"x", key=str(i).encode())
    producer.flush_or_raise(30, "alerts")
