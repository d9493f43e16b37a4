"""Low-latency batch consumption.

librdkafka's ``consume(n, timeout)`` waits for the whole timeout unless n messages arrive, so
a latency-sensitive loop waits for the first message with ``poll`` and then drains whatever
else is already fetched without waiting.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from warden.core.errors import BrokerUnavailableError


def drain(consumer: Consumer, max_messages: int, timeout_s: float) -> list[Message]:
    first = consumer.poll(timeout_s)
    if first is None:
        return []
    if max_messages <= 1:
        return [first]
    return [first, *consumer.consume(max_messages - 1, 0)]


def assign_at_end(consumer: Consumer, names: list[str], who: str, bootstrap: str) -> None:
    """Follow these topics from now on: every partition assigned at its high watermark (no group)."""
    try:
        metadata = consumer.list_topics(timeout=10).topics
        assignment = []
        for name in names:
            for p in metadata[name].partitions:
                _low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
                assignment.append(TopicPartition(name, p, high))
    except (KafkaException, KeyError) as exc:
        raise BrokerUnavailableError(f"{who} cannot follow {', '.join(names)} at {bootstrap}: {exc}") from exc
    consumer.assign(assignment)


def records(messages: Iterable[Message], counters: Counter[str],
            log: logging.Logger | None = None) -> Iterator[Message]:
    """The records among consumed messages. Error events are passed over; all but end-of-partition
    (which a consumer asks for) are counted as ``consumer_errors``, and logged when ``log`` is given."""
    for msg in messages:
        err = msg.error()
        if err is None:
            yield msg
        elif err.code() != KafkaError._PARTITION_EOF:
            if log is not None:
                log.warning("consumer error: %s", err)
            counters["consumer_errors"] += 1


def position(msg: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed record; only error events lack them."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError(f"message without a position (an error event?): {msg.error()}")
    return topic, partition, offset
