"""The sync SDK: bad events raised at once, good ones delivered once in step order, a dead broker reported."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from warden.broker.tansu import free_port
from warden.core.errors import BrokerUnavailableError, ConfigError, ValidationError, WardenError
from warden.core.events import AgentEvent, EventType, RunCompleted, ToolCallRequested
from warden.core.headers import routing_from_event, routing_of
from warden.core.settings import WardenSettings
from warden.core.topics import AGENT_EVENTS
from warden.core.wire import Wire, wire_for
from warden.sdk import Run, WardenClient

QUIET: dict[str, Any] = {"log_level": 0}  # connection-refused chatter from librdkafka is expected here
BOUND_S = 30  # "the call returns": generous on a shared machine; never a tighter timing


def unreachable(data_dir: Path) -> WardenSettings:
    """A loopback port nobody listens on: the broker stays unreachable for the whole test."""
    return WardenSettings(data_dir=data_dir, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")


def discard(client: WardenClient) -> None:
    """Drop whatever is still queued for a dead broker, so closing does not wait it out."""
    client._producer.purge()
    with contextlib.suppress(WardenError):
        client.close()


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[WardenClient]:
    """Everything that happens before sending needs no broker."""
    client = WardenClient(unreachable(tmp_path), max_wait_s=1, producer_config=QUIET)
    yield client
    discard(client)


def read_back(settings: WardenSettings, expected: int, timeout_s: float = 20) -> list[tuple[bytes, AgentEvent]]:
    """Consume until the expected count or the deadline, in arrival order, then a little longer for duplicates.

    Never trusts end offsets: Tansu reports them wrong. Checks each record's routing headers against its body.
    """
    consumer = Consumer({**settings.kafka_config(), "group.id": f"sdk-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([settings.topic(AGENT_EVENTS)])
    wire: Wire = wire_for(settings)
    got: list[tuple[bytes, AgentEvent]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if len(got) >= expected:
                deadline = min(deadline, time.monotonic() + 1.0)
            for msg in consumer.consume(500, 0.5):
                if msg.error() is None:
                    event = wire.decode(msg.value(), "warden.AgentEvent")
                    assert isinstance(event, AgentEvent)
                    # every record carries its routing facts in headers (ADR 0019)
                    assert routing_of(msg.headers()) == routing_from_event(event)
                    got.append((msg.key() or b"", event))
    finally:
        consumer.close()
    return got


def assert_one_run_in_order(got: list[tuple[bytes, AgentEvent]], run_id: str, count: int) -> list[AgentEvent]:
    """Every event once, keyed by run_id, and read back in step order (one key, one partition)."""
    events = [event for _, event in got]
    assert len({e.event_id for e in events}) == len(events) == count
    assert {key for key, _ in got} == {run_id.encode()}
    assert [e.step for e in events] == list(range(1, count + 1))
    return events


# -- before sending: no broker needed -------------------------------------------------------------


def test_bad_events_are_the_callers_error_raised_before_sending(offline: WardenClient) -> None:
    run = offline.run("acme", "refund_ticket", "agent-1")
    with pytest.raises(ValidationError, match="input_tokens"):
        run.llm_call("gpt-4o-mini", "openai", -5, 10, 100.0)
    with pytest.raises(ValidationError, match="params must be a JSON object"):
        run.tool_call_requested("crm", "lookup", "[1, 2]")
    with pytest.raises(ValidationError, match="status"):
        run.tool_call_completed("c1", "crm", "exploded", 3.0)
    with pytest.raises(ValidationError, match="status"):
        run.completed("finished")
    with pytest.raises(ValidationError, match="tenant_id"):
        offline.run("", "refund_ticket", "agent-1")
    assert run.step == 0  # a refused event takes no step number
    assert offline.stats == {"emitted": 0, "delivered": 0, "failed": 0}


def test_a_run_numbers_its_steps_and_returns_what_it_emits(offline: WardenClient) -> None:
    run = offline.run("acme", "refund_ticket", "agent-1", user_id="u-1")
    assert isinstance(run, Run)
    assert uuid.UUID(run.run_id).version == 4
    started = run.started("v3", "p2", "gpt-4o-mini")
    call = run.tool_call_requested("payments", "refund", {"order_id": "o1", "amount_usd": 42.0})
    mine = run.tool_call_requested("crm", "lookup", {"customer_id": "c1"}, call_id="call-7")
    done = run.tool_call_completed(call, "payments", "ok", 180.0, output={"refund_id": "r1"})
    assert isinstance(started, AgentEvent) and started.step == 1 and started.user_id == "u-1"
    assert uuid.UUID(call) and mine == "call-7"
    assert done.step == 4 and run.step == 4
    assert offline.stats["emitted"] == 4
    assert offline.run("acme", "refund_ticket", "agent-1", run_id="r-fixed").run_id == "r-fixed"


def test_emit_takes_only_a_built_event(offline: WardenClient) -> None:
    with pytest.raises(TypeError, match="AgentEvent"):
        offline.emit({"event_type": "llm_call"})  # type: ignore[arg-type]


def test_a_failing_block_records_a_failed_run_once(offline: WardenClient) -> None:
    with pytest.raises(RuntimeError), offline.run("acme", "export_report", "agent-2") as run:
        run.started("v1", "p1", "gpt-4o")
        raise RuntimeError("tool crashed")
    assert run.is_completed and run.step == 2
    with pytest.raises(KeyError), offline.run("acme", "export_report", "agent-2") as finished:
        finished.completed("escalated")
        raise KeyError("after the end")
    assert finished.step == 1  # already completed: no second run_completed
    with offline.run("acme", "export_report", "agent-2") as quiet:
        quiet.started("v1", "p1", "gpt-4o")
    assert not quiet.is_completed  # leaving the block normally says nothing about the outcome


def test_a_closed_client_refuses_events(tmp_path: Path) -> None:
    client = WardenClient(unreachable(tmp_path), max_wait_s=1, producer_config=QUIET)
    run = client.run("acme", "refund_ticket", "agent-1")
    client.close()  # nothing queued: returns at once
    client.close()  # and again, harmlessly
    with pytest.raises(WardenError, match="closed"):
        run.started("v1", "p1", "gpt-4o")


def test_a_bad_producer_setting_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no\.such\.setting"):
        WardenClient(unreachable(tmp_path), producer_config={"no.such.setting": 1})
    with pytest.raises(ConfigError, match="max_wait_s"):
        WardenClient(unreachable(tmp_path), max_wait_s=0)


def test_a_wait_shorter_than_the_default_linger_is_accepted(tmp_path: Path) -> None:
    """librdkafka refuses a linger as long as the delivery timeout: the SDK shortens its linger."""
    WardenClient(unreachable(tmp_path), max_wait_s=0.02, producer_config=QUIET).close()


# -- an unreachable broker: a clear error after a bounded wait ----------------------------------


def test_an_unreachable_broker_is_a_clear_error_after_a_bounded_wait(tmp_path: Path) -> None:
    settings = unreachable(tmp_path)
    client = WardenClient(settings, max_wait_s=1.5, producer_config=QUIET)
    run = client.run("acme", "refund_ticket", "agent-1")
    run.started("v1", "p1", "gpt-4o")
    run.llm_call("gpt-4o", "openai", 10, 2, 5.0)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match=rf"2 event\(s\).*{settings.bootstrap_servers}"):
        client.close()
    assert time.monotonic() - started < BOUND_S
    assert client.stats == {"emitted": 2, "delivered": 0, "failed": 2}


def test_a_delivery_failure_is_raised_on_the_next_emit_once(tmp_path: Path) -> None:
    settings = unreachable(tmp_path)
    client = WardenClient(settings, max_wait_s=1, producer_config=QUIET)
    try:
        run = client.run("acme", "refund_ticket", "agent-1")
        run.started("v1", "p1", "gpt-4o")
        deadline = time.monotonic() + BOUND_S
        while client.stats["failed"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.stats["failed"] == 1
        with pytest.raises(BrokerUnavailableError, match=settings.bootstrap_servers):
            run.llm_call("gpt-4o", "openai", 10, 2, 5.0)
        run.llm_call("gpt-4o", "openai", 10, 2, 5.0)  # reported once; the agent may carry on
    finally:
        discard(client)


def test_a_full_local_queue_waits_boundedly_then_names_the_broker(tmp_path: Path) -> None:
    settings = unreachable(tmp_path)
    # A one-event queue whose event never expires on its own: the second emit finds it full.
    client = WardenClient(settings, max_wait_s=1, producer_config={
        **QUIET, "queue.buffering.max.messages": 1, "message.timeout.ms": 120_000})
    try:
        run = client.run("acme", "refund_ticket", "agent-1")
        run.started("v1", "p1", "gpt-4o")
        started = time.monotonic()
        with pytest.raises(BrokerUnavailableError, match=rf"queue stayed full.*{settings.bootstrap_servers}"):
            run.llm_call("gpt-4o", "openai", 10, 2, 5.0)
        assert time.monotonic() - started < BOUND_S
        with pytest.raises(BrokerUnavailableError, match=rf"1 event\(s\) not delivered.*{settings.bootstrap_servers}"):
            client.flush(0.5)
    finally:
        discard(client)


# -- a real broker --------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_run_arrives_once_in_step_order_keyed_by_run(topics: WardenSettings) -> None:
    with WardenClient(topics) as client, client.run("acme", "refund_ticket", "agent-1", user_id="u1") as run:
        run.started("v3", "p2", "gpt-4o-mini")
        run.llm_call("gpt-4o-mini", "openai", 812, 96, 640.0, cost_usd=0.0012)
        call = run.tool_call_requested("payments", "refund", {"order_id": "o1", "amount_usd": 42.0})
        run.tool_call_completed(call, "payments", "ok", 180.0, output={"refund_id": "r1"})
        run.completed("succeeded", state_change={"refunded": 42.0})
    events = assert_one_run_in_order(read_back(topics, 5), run.run_id, 5)
    assert [e.event_type for e in events] == list(EventType)
    assert isinstance(events[2].body, ToolCallRequested) and events[2].body.call_id == call
    assert {(e.tenant_id, e.workflow, e.agent_id, e.user_id) for e in events} == {
        ("acme", "refund_ticket", "agent-1", "u1")}
    assert client.stats == {"emitted": 5, "delivered": 5, "failed": 0}


@pytest.mark.integration
def test_an_exception_inside_a_run_is_recorded_as_a_failed_run(topics: WardenSettings) -> None:
    with WardenClient(topics) as client, pytest.raises(RuntimeError), \
            client.run("acme", "export_report", "agent-2") as run:
        run.started("v1", "p1", "gpt-4o")
        raise RuntimeError("tool crashed")
    events = assert_one_run_in_order(read_back(topics, 2), run.run_id, 2)
    assert events[-1].event_type == EventType.RUN_COMPLETED
    assert isinstance(events[-1].body, RunCompleted) and events[-1].body.status == "failed"


@pytest.mark.integration
def test_threads_sharing_a_run_still_queue_it_in_step_order(topics: WardenSettings) -> None:
    with WardenClient(topics) as client:
        run = client.run("acme", "triage_ticket", "agent-3")

        def agent_thread(n: int) -> None:
            for i in range(50):
                run.llm_call("gpt-4o-mini", "openai", n * 100 + i, 1, 1.0)

        threads = [threading.Thread(target=agent_thread, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert_one_run_in_order(read_back(topics, 200), run.run_id, 200)
    assert client.stats == {"emitted": 200, "delivered": 200, "failed": 0}
