"""The proxy's records to Kafka: one producer, polled by a thread of its own, counting what was lost.

A call waits for no delivery report (that would put a broker round trip on every tool call);
a record that cannot even be queued refuses the call instead (WardenError -> 503), so nothing is
proxied without leaving a trace. Failed deliveries are counted and shown on /health.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric
from pydantic import BaseModel

from warden.core.errors import WardenError
from warden.core.events import AgentEvent
from warden.core.headers import event_headers
from warden.core.settings import WardenSettings
from warden.core.wire import Wire, wire_for
from warden.kafka import clients, configs
from warden.runtime.metrics import producer_families

log = logging.getLogger("warden.tool_proxy")
SERVICE = "tool-proxy"


def producer_config(settings: WardenSettings) -> dict[str, Any]:
    """The proxy's one producer config (idempotent, acks=all, a short linger for many small records)."""
    return configs.producer_config(settings, linger_ms=5, **{"queue.buffering.max.messages": 200_000})


class Emitter:
    def __init__(self, settings: WardenSettings) -> None:
        self.settings = settings
        self.wire: Wire = wire_for(settings)
        self.producer = clients.raw_producer(producer_config(settings))
        self.undelivered = 0
        self.produced: Counter[str] = Counter()  # records queued, by topic (metrics)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="tool-proxy-producer", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.undelivered += 1
            log.error("record for %s not delivered: %s", msg.topic(), err)

    def emit(self, topic: str, key: str, record: BaseModel) -> None:
        try:
            self.producer.produce(self.settings.topic(topic), self.wire.encode(record), key=key.encode(),
                                  headers=event_headers(record) if isinstance(record, AgentEvent) else None,
                                  on_delivery=self._delivered)
            self.produced[topic] += 1
        except BufferError as exc:
            raise WardenError("the proxy's record queue to Kafka is full; refusing calls until it drains") from exc

    def families(self) -> list[Metric]:
        produced = CounterMetricFamily("warden_records_produced", "Records the service produced, by topic",
                                       labels=["service", "topic"])
        for topic, value in sorted(dict(self.produced).items()):
            produced.add_metric([SERVICE, topic], value)
        return [produced, *producer_families(SERVICE, self.undelivered, len(self.producer))]

    def nudge(self) -> None:
        """Hand queued records to librdkafka now (an approval request should not wait for the linger)."""
        self.producer.poll(0)

    def close(self) -> None:
        self._stop.set()
        self._poller.join(5)
        self.producer.flush(10)
