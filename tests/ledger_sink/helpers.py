"""Shared by the sink's integration tests: produce recorded events, wait for the ledger."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from warden.core.events import AgentEvent
from warden.core.headers import event_headers
from warden.core.settings import WardenSettings
from warden.core.topics import AGENT_EVENTS
from warden.core.wire import wire_for
from warden.demo.simulator import Simulator
from warden.ledger.client import Ledger
from warden.ledger_sink.settings import LedgerSinkSettings


def sink_settings(topics: WardenSettings, ledger: Ledger, **extra: object) -> LedgerSinkSettings:
    """A sink on the test's topics and ledger, in a group of its own, with no query server."""
    fields: dict[str, Any] = {**topics.model_dump(), "clickhouse_database": ledger.database,
                              "group_id": f"sink-{uuid.uuid4().hex[:8]}", "serve_queries": False, **extra}
    return LedgerSinkSettings(**fields)


def simulated(count: int, prefix: str, seed: int = 3) -> list[AgentEvent]:
    return list(Simulator(seed, datetime(2026, 11, 2, 8, 0, tzinfo=UTC), prefix).events(count))[:count]


def produce(settings: WardenSettings, events: Iterable[AgentEvent],
            raw: Iterable[tuple[bytes, bytes]] = (), headers: bool = False) -> int:
    """``headers``: with the routing headers the SDK writes (ADR 0019); without, as an older producer."""
    wire = wire_for(settings)
    producer = Producer({**settings.producer_config(), "enable.idempotence": True, "linger.ms": 5})
    topic = settings.topic(AGENT_EVENTS)
    n = 0
    for event in events:
        producer.produce(topic, wire.encode(event), key=event.run_id.encode(),
                         headers=event_headers(event) if headers else None)
        n += 1
        if n % 5000 == 0:
            producer.poll(0)
    for key, value in raw:
        producer.produce(topic, value, key=key)
    assert producer.flush(30) == 0
    return n


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0, step: Callable[[], object] | None = None,
             what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if step is not None:
            step()
        if condition():
            return
        if step is None:
            time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
