"""The SDK's outbox (WARDEN_SDK_ENCODE=delivery_thread, docs/decisions/0025-sdk-encode-off-the-caller.md).

emit checks what the caller can fix and appends the event here; the SDK's delivery thread redacts it,
encodes it, adds its routing headers and hands it to librdkafka, in the order accepted (one hand-over at a
time, under one lock), so a run's events keep their step order and the producer's guarantees are the same
as on the caller's thread. The CPU is the same; it is no longer spent inside the agent's call.

What fails there (an event that cannot be encoded, a producer that refuses one) is counted as failed and
raised to the caller on its next emit or flush, as a delivery failure is. flush and close hand over what is
still queued on the caller's own thread first (it waits for the delivery thread's hand-over in progress), so
they never depend on that thread having kept up.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException

from warden.core.errors import BrokerError, SchemaError
from warden.core.events import AgentEvent
from warden.core.headers import Headers, event_headers
from warden.sdk.redact import before_producing

if TYPE_CHECKING:
    from warden.sdk.client import WardenClient

Ready = tuple[bytes, bytes, Headers]  # value, key, headers: what produce() takes
Item = AgentEvent | Ready | Callable[[], AgentEvent]  # an event, one prepared at emit, a routing decision's builder
REPORTS_EVERY = 1_000  # delivery reports served between hand-overs of a long backlog
GATHER_S = 0.02  # how long the delivery thread lets events gather once woken

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, client: WardenClient, capacity: int) -> None:
        self._client = client
        self._capacity = capacity
        self._items: collections.deque[Item] = collections.deque()
        self._held: Ready | None = None  # prepared but refused by a full librdkafka queue: it goes first
        self._lock = threading.Lock()  # one hand-over at a time: produce order is accept order
        self._wake = threading.Event()

    def __len__(self) -> int:
        """Events accepted and not yet handed to librdkafka."""
        return len(self._items) + (self._held is not None)

    def put(self, item: Item) -> bool:
        """False when the outbox is full (the caller waits, boundedly)."""
        if len(self._items) >= self._capacity:
            return False
        self._items.append(item)
        if not self._wake.is_set():  # an attribute read on the usual path; set() takes a lock
            self._wake.set()
        return True

    def hand_over(self, deadline: float | None) -> bool:
        """Prepare and produce everything queued, in order; True when nothing is left.

        ``deadline`` None (the delivery thread): return at once when librdkafka's queue is full, to serve the
        delivery reports that free it. Otherwise (flush) wait for room, and for a hand-over in progress on
        another thread, until the deadline."""
        wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._lock.acquire(timeout=wait):
            return False
        producer = self._client._producer
        try:
            sent = 0
            while True:
                ready = self._held
                if ready is None:
                    if not self._items:
                        return True
                    ready = self._prepare(self._items.popleft())
                    if ready is None:
                        continue
                if not self._produce(ready):
                    self._held = ready
                    if deadline is None or time.monotonic() > deadline:
                        return False
                    producer.poll(0.005)
                    continue
                self._held = None
                sent += 1
                if sent % REPORTS_EVERY == 0:
                    producer.poll(0)
        finally:
            self._lock.release()

    def _prepare(self, item: Item) -> Ready | None:
        """What emit does on the caller's thread in the default mode; None when it failed (counted, raised later)."""
        if type(item) is tuple:
            return item
        client = self._client
        event: AgentEvent | None = None
        try:
            event = item if isinstance(item, AgentEvent) else item()  # type: ignore[operator]
            ready = before_producing(event, client.settings.redact_outputs, client.settings.redact_params is True)
            return client.wire.encode(ready), ready.run_id.encode(), event_headers(ready)
        except Exception as exc:  # any library error: this event is lost to the topic, never the thread
            what = "a routing decision's event" if event is None else (
                f"event {event.event_id} ({event.event_type}, run {event.run_id}, step {event.step})")
            failure = SchemaError(f"{what} could not be encoded: {type(exc).__name__}: {str(exc)[:200]}")
            failure.__cause__ = exc
            log.error("not sent: %s", failure)
            client._record_failure(failure)
            return None

    def _produce(self, ready: Ready) -> bool:
        """False when librdkafka's local queue is full; a refusal (an oversized event) is a counted failure."""
        client = self._client
        value, key, headers = ready
        try:
            client._producer.produce(client.topic, value, key=key, headers=headers, on_delivery=client._delivered)
        except BufferError:
            return False
        except KafkaException as exc:
            log.error("the Kafka producer refused an event: %s", exc.args[0].str())
            client._record_failure(exc.args[0])
        except Exception as exc:  # never the delivery thread's end: the event is counted and reported
            failure = BrokerError(f"the Kafka producer refused an event: {type(exc).__name__}: {str(exc)[:200]}")
            failure.__cause__ = exc
            log.error("not sent: %s", failure)
            client._record_failure(failure)
        return True

    def serve(self, closed: threading.Event) -> None:
        """The delivery thread: hand over what emit queues, and serve delivery reports, until closed."""
        producer = self._client._producer
        while not closed.is_set():
            if self._items or self._held is not None:
                if not self.hand_over(None):
                    producer.poll(0.005)  # librdkafka's queue is full: its delivery reports free it
                    continue
                producer.poll(0)
                continue
            if self._wake.wait(0.1):
                # Let a trickle gather: one wake-up per GATHER_S, not one per event. At 2,000 events/s the SDK's
                # CPU per event was 10-35 µs above the caller mode's with a wake-up per event, 7-12 µs with 5 ms,
                # 13-27 µs below it with 20 ms (fewer, fuller hand-overs to librdkafka). librdkafka lingers
                # 50 ms anyway, and flush hands over on the caller's thread without waiting for this.
                time.sleep(GATHER_S)
            self._wake.clear()  # before looking again: an event put after this sets it anew
            producer.poll(0)

    def wake(self) -> None:
        self._wake.set()
