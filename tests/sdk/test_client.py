"""The sync SDK: bad events raised at once, good ones delivered in order, a dead broker reported."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer

from warden.broker.tansu import free_port
from warden.core.errors import BrokerUnavailableError, ValidationError
from warden.core.events import AgentEvent, EventType
from warden.core.settings import WardenSettings
from warden.core.topics import AGENT_EVENTS
from warden.core.wire import wire_for
from warden.sdk import WardenClient


def unreachable(tmp_path_str: str) -> WardenSettings:
    return WardenSettings(data_dir=tmp_path_str, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")


def read_back(settings: WardenSettings, expected: int, timeout_s: float = 30) -> list[tuple[bytes, AgentEvent]]:
    """Consume until the expected count (never trusting end offsets, which Tansu reports wrong)."""
    consumer = Consumer({**settings.kafka_config(), "group.id": f"sdk-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([settings.topic(AGENT_EVENTS)])
    wire = wire_for(settings)
    got: list[tuple[bytes, AgentEvent]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.5):
                if msg.error() is None:
                    event = wire.decode(msg.value(), "warden.AgentEvent")
                    assert isinstance(event, AgentEvent)
                    got.append((msg.key() or b"", event))
    finally:
        consumer.close()
    return got


def test_bad_events_are_the_callers_error_raised_before_sending(tmp_path: object) -> None:
    with WardenClient(unreachable(str(tmp_path)), max_wait_s=1, producer_config={"log_level": 0}) as client:
        run = client.run("acme", "refund_ticket", "agent-1")
        with pytest.raises(ValidationError, match="input_tokens"):
            run.llm_call("gpt-4o-mini", "openai", -5, 10, 100.0)
        with pytest.raises(ValidationError, match="params must be a JSON object"):
            run.tool_call_requested("crm", "lookup", "[1, 2]")
        with pytest.raises(ValidationError, match="status"):
            run.tool_call_completed("c1", "crm", "exploded", 3.0)
        assert run.step == 0  # a refused event takes no step number
        assert client.stats["emitted"] == 0
        client._producer.purge()  # nothing was queued; leave nothing to flush against the dead broker


@pytest.mark.integration
def test_a_run_arrives_once_in_step_order_keyed_by_run(topics: WardenSettings) -> None:
    with WardenClient(topics) as client, client.run("acme", "refund_ticket", "agent-1", user_id="u1") as run:
        run.started("v3", "p2", "gpt-4o-mini")
        run.llm_call("gpt-4o-mini", "openai", 812, 96, 640.0, cost_usd=0.0012)
        call = run.tool_call_requested("payments", "refund", {"order_id": "o1", "amount_usd": 42.0})
        run.tool_call_completed(call, "payments", "ok", 180.0, output={"refund_id": "r1"})
        run.completed("succeeded", state_change={"refunded": 42.0})
    got = read_back(topics, 5)
    assert len(got) == 5
    events = sorted((e for _, e in got), key=lambda e: e.step)
    assert [e.step for e in events] == [1, 2, 3, 4, 5]
    assert [e.event_type for e in events] == list(EventType)
    assert {key for key, _ in got} == {run.run_id.encode()}
    assert events[2].body.call_id == call  # type: ignore[union-attr]
    assert client.stats == {"emitted": 5, "delivered": 5, "failed": 0}


@pytest.mark.integration
def test_an_exception_inside_a_run_is_recorded_as_a_failed_run(topics: WardenSettings) -> None:
    with WardenClient(topics) as client, pytest.raises(RuntimeError), \
            client.run("acme", "export_report", "agent-2") as run:
        run.started("v1", "p1", "gpt-4o")
        raise RuntimeError("tool crashed")
    events = sorted((e for _, e in read_back(topics, 2)), key=lambda e: e.step)
    assert events[-1].event_type == EventType.RUN_COMPLETED
    assert events[-1].body.status == "failed"  # type: ignore[union-attr]


def test_an_unreachable_broker_is_a_clear_error_after_a_bounded_wait(tmp_path: object) -> None:
    settings = unreachable(str(tmp_path))
    client = WardenClient(settings, max_wait_s=1.5, producer_config={"log_level": 0})
    client.run("acme", "refund_ticket", "agent-1").started("v1", "p1", "gpt-4o")
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match=settings.bootstrap_servers):
        client.close()
    assert time.monotonic() - started < 30  # bounded, not hanging; no tighter timing on a shared machine
