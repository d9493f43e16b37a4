"""A producer whose flush says whether every record produced since the last one reached the broker.

librdkafka's ``flush()`` returns how many records are still queued. A record that failed for
good (timed out, too large, not authorized) has left the queue, so ``flush()`` returns 0 for it
too, and only its delivery report says it is gone. The services commit input offsets or write
snapshots right after a flush: if they trusted its return value alone, a failed record would be
acknowledged as made, and lost.

A failure is sticky: every later flush raises too, so a service that saves its state once more on
the way out (a rebalance callback, ``close``) cannot save past the lost record either; it restarts
from its last checkpoint and makes the record again. A caller that answers for the failure itself
(approvals undoes the one decision it published) calls ``forget_failures``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from warden.core.errors import DeliveryError
from warden.core.headers import Headers


class CheckedProducer:
    def __init__(self, config: dict[str, Any]) -> None:
        self._producer = Producer(config)
        self._failed: list[str] = []
        self.failures = 0  # every failed delivery report since start (metrics), forgotten or not

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.failures += 1
            self._failed.append(f"{msg.topic()}: {err.str()}")

    def produce(self, topic: str, value: bytes, key: bytes | None = None, partition: int | None = None,
                on_delivered: Callable[[Message], None] | None = None,
                headers: Headers | None = None) -> None:
        """``partition``: this one rather than the key's; ``on_delivered``: told of the record once acknowledged;
        ``headers``: an AgentEvent's routing facts (warden.core.headers)."""
        if partition is None and on_delivered is None:
            self._producer.produce(topic, value, key=key, headers=headers, on_delivery=self._delivered)
            return

        def delivered(err: KafkaError | None, msg: Message) -> None:
            self._delivered(err, msg)
            if err is None and on_delivered is not None:
                on_delivered(msg)

        if partition is None:
            self._producer.produce(topic, value, key=key, headers=headers, on_delivery=delivered)
        else:
            self._producer.produce(topic, value, key=key, partition=partition, headers=headers,
                                   on_delivery=delivered)

    def poll(self, timeout_s: float = 0) -> int:
        return int(self._producer.poll(timeout_s))

    def flush_or_raise(self, timeout_s: float, what: str) -> None:
        """Raises DeliveryError, naming ``what`` and the first failures, unless every record is acknowledged."""
        queued = self._producer.flush(timeout_s)
        failed = self._failed
        if queued or failed:
            problems = ([f"{queued} still queued after {timeout_s:g} s"] if queued else []) + failed[:3]
            more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
            raise DeliveryError(f"{what} not delivered to the broker: {'; '.join(problems)}{more}")

    def queued(self) -> int:
        """Records produced and not yet acknowledged (or failed)."""
        return len(self._producer)

    def forget_failures(self) -> None:
        self._failed = []

    def close(self, timeout_s: float) -> int:
        """Best effort at shutdown: what is still queued is re-made from the uncommitted input."""
        return int(self._producer.flush(timeout_s))
