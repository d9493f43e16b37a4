"""sdk_encode="delivery_thread": emit checks and queues, the delivery thread encodes and produces (ADR 0025).

What the caller can fix still raises at the call; what fails on the delivery thread is raised on the next call
or flush, never dropped in silence; flush and close hand over what is queued; a run keeps its step order.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.ledger_sink.helpers import wait_for
from tests.sdk.test_client import BOUND_S, QUIET, assert_one_run_in_order, discard, read_back, unreachable
from warden.broker.admin import ensure_topics
from warden.broker.embedded import EmbeddedBroker
from warden.broker.tansu import free_port
from warden.core.errors import BrokerError, BrokerUnavailableError, SchemaError, ValidationError, WardenError
from warden.core.events import AgentEvent, EventType, LlmCall, ToolCallCompleted, new_event_id
from warden.core.settings import WardenSettings
from warden.sdk import AsyncWardenClient, WardenClient

STEP = 2**70
OFF_THREAD = {"sdk_encode": "delivery_thread"}


def off_thread(settings: WardenSettings, **more: object) -> WardenSettings:
    return settings.model_copy(update={**OFF_THREAD, **more})


def unencodable(run_id: str) -> AgentEvent:
    """An event built around validation (model_construct) with a step no Avro number holds: only the encoder
    finds it, on the delivery thread."""
    body = LlmCall(model="m", provider="p", input_tokens=1, output_tokens=1, latency_ms=1.0)
    return AgentEvent.model_construct(
        event_id=new_event_id(), event_type=EventType.LLM_CALL, occurred_at=datetime.now(UTC), tenant_id="acme",
        workflow="refund_ticket", run_id=run_id, agent_id="agent-1", user_id=None, step=STEP, body=body)


# -- at the call: no broker needed ----------------------------------------------------------------------------


def test_what_the_caller_can_fix_is_still_raised_at_the_call(tmp_path: Path) -> None:
    client = WardenClient(off_thread(unreachable(tmp_path)), max_wait_s=1, producer_config=QUIET)
    try:
        run = client.run("acme", "refund_ticket", "agent-1")
        with pytest.raises(ValidationError, match="input_tokens"):
            run.llm_call("gpt-4o-mini", "openai", -5, 10, 100.0)
        # Larger than Avro's long: the model refuses it now; it used to pass validation and fail in the encoder.
        with pytest.raises(ValidationError, match="input_tokens"):
            run.llm_call("gpt-4o-mini", "openai", 2**63, 10, 100.0)
        with pytest.raises(ValidationError, match="params must be a JSON object"):
            run.tool_call_requested("crm", "lookup", "[1, 2]")
        with pytest.raises(TypeError, match="AgentEvent"):
            client.emit({"event_type": "llm_call"})  # type: ignore[arg-type]
        assert run.step == 0 and client.stats == {"emitted": 0, "delivered": 0, "failed": 0}
    finally:
        discard(client)
    with pytest.raises(WardenError, match="closed"):
        run.started("v1", "p1", "gpt-4o")


def test_an_event_over_the_producers_size_limit_is_refused_at_the_call(tmp_path: Path) -> None:
    client = WardenClient(off_thread(unreachable(tmp_path)), max_wait_s=1,
                          producer_config={**QUIET, "message.max.bytes": 10_000})
    try:
        run = client.run("acme", "refund_ticket", "agent-1")
        call = run.tool_call_requested("crm", "lookup", {"customer_id": "c1"})
        with pytest.raises(BrokerError, match=r"over message\.max\.bytes 10000"):
            run.tool_call_completed(call, "crm", "ok", 3.0, output={"text": "x" * 12_000})
        run.tool_call_completed(call, "crm", "ok", 3.0, output={"text": "x" * 1_000})  # small: queued as it is
        assert client.stats["emitted"] == 2
    finally:
        discard(client)


def test_a_full_outbox_waits_boundedly_then_names_the_broker(tmp_path: Path) -> None:
    settings = off_thread(unreachable(tmp_path), sdk_outbox_events=1)
    client = WardenClient(settings, max_wait_s=1, producer_config={
        **QUIET, "queue.buffering.max.messages": 1, "message.timeout.ms": 120_000})
    try:
        run = client.run("acme", "refund_ticket", "agent-1")
        started = time.monotonic()
        with pytest.raises(BrokerUnavailableError, match=rf"queue stayed full.*{settings.bootstrap_servers}"):
            for _ in range(10):  # one in librdkafka's queue, one held by the delivery thread, one queued
                run.llm_call("gpt-4o", "openai", 10, 2, 5.0)
        assert time.monotonic() - started < BOUND_S
        held = client.stats["emitted"]  # 3 unless the delivery thread was kept off the CPU for max_wait_s
        assert 1 <= held <= 3
        with pytest.raises(BrokerUnavailableError,
                           match=rf"{held} event\(s\) not delivered.*{settings.bootstrap_servers}"):
            client.flush(0.5)
    finally:
        discard(client)


# -- a real broker ----------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_an_event_that_cannot_be_encoded_is_raised_on_flush_and_the_good_ones_flow_in_order(
        topics: WardenSettings) -> None:
    """The regression test of the delivery thread's failure path: not silent, and nothing else lost."""
    settings = off_thread(topics)
    client = WardenClient(settings)
    try:
        run = client.run("acme", "refund_ticket", "agent-1")
        run.started("v3", "p2", "gpt-4o-mini")
        client.emit(unencodable(run.run_id))  # accepted: the call cannot know
        run.llm_call("gpt-4o-mini", "openai", 812, 96, 640.0)
        run.completed("succeeded")
        with pytest.raises(SchemaError, match=rf"1 event\(s\) were not sent.*step {STEP}\) could not be encoded"):
            client.flush()
        assert client.stats == {"emitted": 4, "delivered": 3, "failed": 1}
        client.flush()  # reported once
    finally:
        client.close()
    events = assert_one_run_in_order(read_back(settings, 3), run.run_id, 3)
    assert [e.event_type for e in events] == [EventType.RUN_STARTED, EventType.LLM_CALL, EventType.RUN_COMPLETED]


@pytest.mark.integration
def test_an_encode_failure_is_raised_on_the_next_emit(topics: WardenSettings) -> None:
    client = WardenClient(off_thread(topics))
    try:
        run = client.run("acme", "refund_ticket", "agent-1")
        client.emit(unencodable(run.run_id))
        wait_for(lambda: client.stats["failed"] == 1, timeout_s=BOUND_S, what="the delivery thread to try it")
        with pytest.raises(SchemaError, match="could not be encoded"):
            run.started("v3", "p2", "gpt-4o-mini")
        run.started("v3", "p2", "gpt-4o-mini")  # the agent may carry on
        client.flush()
        assert client.stats == {"emitted": 2, "delivered": 1, "failed": 1}
    finally:
        client.close()


@pytest.mark.integration
def test_outputs_are_redacted_and_decisions_sent_in_step_order_off_the_thread(
        topics: WardenSettings) -> None:
    settings = off_thread(topics)
    with WardenClient(settings) as client, client.run("acme", "refund_ticket", "agent-1") as run:
        run.started("v3", "p2", "gpt-4o-mini")
        assert run.route(amount_usd=20.0, input_tokens=500).route == "cheap"
        call = run.tool_call_requested("crm", "lookup", {"customer_id": "c1"})
        run.tool_call_completed(call, "crm", "ok", 3.0, output={"email": "jane.doe@example.com"})
        for i in range(500):
            run.llm_call("gpt-4o-mini", "openai", i, 1, 1.0)
        run.completed("succeeded")
    events = assert_one_run_in_order(read_back(settings, 505), run.run_id, 505)
    assert isinstance(events[1].body, LlmCall) and events[1].body.route_decision is not None
    done = events[3].body
    assert isinstance(done, ToolCallCompleted) and done.output is not None and "jane.doe" not in done.output
    assert client.stats == {"emitted": 505, "delivered": 505, "failed": 0}


@pytest.mark.integration
def test_an_async_client_queues_off_the_loop_and_flush_hands_everything_over(topics: WardenSettings) -> None:
    import asyncio

    settings = off_thread(topics)

    async def scenario() -> tuple[str, dict[str, int]]:
        async with AsyncWardenClient(settings) as client:
            run = client.run("globex", "triage_ticket", "agent-9")
            with pytest.raises(ValidationError, match="input_tokens"):
                await run.llm_call("m", "p", 2**63, 1, 1.0)
            await run.started("v1", "p1", "claude-3-5-haiku")
            assert (await run.route(input_tokens=100)).route == "cheap"  # triage: built on the delivery thread
            for i in range(300):
                await run.llm_call("claude-3-5-haiku", "anthropic", i, 20, 300.0)
            await run.completed("succeeded")
            await client.flush()
            return run.run_id, client.stats

    run_id, stats = asyncio.run(scenario())
    assert stats == {"emitted": 303, "delivered": 303, "failed": 0}
    events = assert_one_run_in_order(read_back(settings, 303), run_id, 303)
    assert isinstance(events[1].body, LlmCall) and events[1].body.route_decision is not None


# -- the embedded durable broker: at least once, in order ------------------------------------------------------


@pytest.mark.integration
def test_on_the_durable_embedded_broker_a_kill_9_mid_stream_loses_no_acknowledged_event(tmp_path: Path) -> None:
    """Tansu on SeaweedFS (at least once, ADR 0014) with the outbox: killed while events are queued and in
    flight, revived; every event the SDK reports delivered is there, first copies in step order."""
    embedded = WardenSettings(data_dir=tmp_path / "w", embedded_broker_port=free_port(), topic_prefix="o.",
                              kafka_extra_config={"log_level": 0}, embedded_retention_minutes=60)
    broker = EmbeddedBroker(embedded, tmp_path).start()
    try:
        settings = off_thread(embedded, kafka_bootstrap_servers=embedded.bootstrap_servers, broker_storage="s3")
        ensure_topics(settings)
        with WardenClient(settings, max_wait_s=60) as client:
            run = client.run("acme", "refund_ticket", "agent-1")
            for i in range(300):
                run.llm_call("gpt-4o-mini", "openai", i, 1, 1.0)
            assert broker.tansu is not None and broker.tansu.process is not None
            os.kill(broker.tansu.process.pid, signal.SIGKILL)
            for i in range(300):
                run.llm_call("gpt-4o-mini", "openai", i, 1, 1.0)
            wait_for(lambda: "tansu" in broker.dead(), timeout_s=10, what="tansu to be gone")
            assert "tansu" in broker.revive()
            client.flush(60)
            assert client.stats == {"emitted": 600, "delivered": 600, "failed": 0}
        got = read_back(settings, 600, timeout_s=60)
        firsts: dict[str, AgentEvent] = {}
        for _, event in got:
            firsts.setdefault(event.event_id, event)
        assert [e.step for e in firsts.values()] == list(range(1, 601))
    finally:
        broker.stop()
