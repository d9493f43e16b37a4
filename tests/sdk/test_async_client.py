"""The asyncio SDK: same contract as the sync one, and never a blocked event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.sdk.test_client import BOUND_S, QUIET, assert_one_run_in_order, discard, read_back, unreachable
from warden.core.errors import BrokerUnavailableError, ValidationError
from warden.core.events import EventType, RunCompleted, ToolCallRequested
from warden.core.settings import WardenSettings
from warden.sdk import AsyncRun, AsyncWardenClient

T = TypeVar("T")


class Ticker:
    """A task that counts loop iterations: if it stops counting, something blocked the loop."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0)

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    async def ticks_during(self, work: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        await asyncio.sleep(0)  # let the ticker start
        before = self.ticks
        result = await work()
        return result, self.ticks - before


def test_bad_events_are_raised_at_once_by_the_async_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        client = AsyncWardenClient(unreachable(tmp_path), max_wait_s=1, producer_config=QUIET)
        try:
            run = client.run("acme", "refund_ticket", "agent-1")
            assert isinstance(run, AsyncRun)
            with pytest.raises(ValidationError, match="input_tokens"):
                await run.llm_call("gpt-4o-mini", "openai", -5, 10, 100.0)
            with pytest.raises(ValidationError, match="params must be a JSON object"):
                await run.tool_call_requested("crm", "lookup", [1, 2])  # type: ignore[arg-type]
            with pytest.raises(ValidationError, match="status"):
                await run.tool_call_completed("c1", "crm", "exploded", 3.0)
            assert run.step == 0 and client.stats["emitted"] == 0
            started = await run.started("v1", "p1", "gpt-4o")
            call = await run.tool_call_requested("crm", "lookup", {"customer_id": "c1"})
            assert started.step == 1 and run.step == 2 and call
            with pytest.raises(RuntimeError):
                async with run:
                    raise RuntimeError("agent crashed")
            assert run.is_completed and run.step == 3
            assert client.stats["emitted"] == 3
        finally:
            discard(client.sync)

    asyncio.run(scenario())


def test_an_unreachable_broker_is_reported_without_blocking_the_loop(tmp_path: Path) -> None:
    settings = unreachable(tmp_path)

    async def scenario() -> tuple[BaseException | None, int, float]:
        client = AsyncWardenClient(settings, max_wait_s=1.5, producer_config=QUIET)
        run = client.run("acme", "refund_ticket", "agent-1")
        await run.started("v1", "p1", "gpt-4o")
        started = time.monotonic()

        async def close() -> BaseException | None:
            try:
                await client.close()
            except BrokerUnavailableError as exc:
                return exc
            return None

        with Ticker() as ticker:
            error, ticks = await ticker.ticks_during(close)
        return error, ticks, time.monotonic() - started

    error, ticks, elapsed = asyncio.run(scenario())
    assert isinstance(error, BrokerUnavailableError)
    assert settings.bootstrap_servers in str(error) and "1 event(s)" in str(error)
    assert ticks > 0  # the loop ran while the client waited for the broker
    assert elapsed < BOUND_S


def test_a_full_queue_is_waited_out_on_the_loop_not_in_it(tmp_path: Path) -> None:
    settings = unreachable(tmp_path)

    async def scenario() -> tuple[BaseException | None, int]:
        client = AsyncWardenClient(settings, max_wait_s=1, producer_config={
            **QUIET, "queue.buffering.max.messages": 1, "message.timeout.ms": 120_000})
        run = client.run("acme", "refund_ticket", "agent-1")
        await run.started("v1", "p1", "gpt-4o")

        async def second() -> BaseException | None:
            try:
                await run.llm_call("gpt-4o", "openai", 1, 1, 1.0)
            except BrokerUnavailableError as exc:
                return exc
            return None

        try:
            with Ticker() as ticker:
                return await ticker.ticks_during(second)
        finally:
            discard(client.sync)

    error, ticks = asyncio.run(scenario())
    assert isinstance(error, BrokerUnavailableError) and settings.bootstrap_servers in str(error)
    assert ticks > 0


@pytest.mark.integration
def test_an_async_run_arrives_once_in_step_order_keyed_by_run(topics: WardenSettings) -> None:
    async def scenario() -> tuple[AsyncRun, str, dict[str, int]]:
        async with AsyncWardenClient(topics) as client:
            run = client.run("globex", "refund_ticket", "agent-4", user_id="u9")
            async with run:
                await run.started("v3", "p2", "claude-3-5-haiku")
                await run.llm_call("claude-3-5-haiku", "anthropic", 400, 50, 320.0, cached_tokens=100)
                call = await run.tool_call_requested("crm", "lookup", {"customer_id": "c1"}, resource="crm:c1")
                await run.tool_call_completed(call, "crm", "error", 30.0, error_code="E_TIMEOUT")
                await run.completed("escalated")
        return run, call, client.stats

    run, call, stats = asyncio.run(scenario())
    events = assert_one_run_in_order(read_back(topics, 5), run.run_id, 5)
    assert [e.event_type for e in events] == list(EventType)
    assert isinstance(events[2].body, ToolCallRequested) and events[2].body.call_id == call
    assert isinstance(events[-1].body, RunCompleted) and events[-1].body.status == "escalated"
    assert stats == {"emitted": 5, "delivered": 5, "failed": 0}


@pytest.mark.integration
def test_emitting_thousands_of_events_leaves_the_loop_free(topics: WardenSettings) -> None:
    """No explicit yields in the emit loop: the ticker only runs if waiting on the queue yields."""
    count = 5000

    async def scenario() -> tuple[AsyncRun, int, int, dict[str, int]]:
        # A local queue far smaller than the burst, so emit must wait for the broker many times.
        async with AsyncWardenClient(topics, producer_config={"queue.buffering.max.messages": 200}) as client:
            run = client.run("globex", "triage_ticket", "agent-9")

            async def burst() -> None:
                await run.started("v1", "p1", "claude-3-5-haiku")
                for i in range(count - 2):
                    await run.llm_call("claude-3-5-haiku", "anthropic", 100 + i, 20, 300.0)
                await run.completed("succeeded")

            with Ticker() as ticker:
                _, emit_ticks = await ticker.ticks_during(burst)
                _, flush_ticks = await ticker.ticks_during(client.flush)
        return run, emit_ticks, flush_ticks, client.stats

    run, emit_ticks, flush_ticks, stats = asyncio.run(scenario())
    assert emit_ticks > 0  # the loop kept running while 5,000 events were emitted
    assert flush_ticks > 0  # and while they were flushed
    assert stats == {"emitted": count, "delivered": count, "failed": 0}
    assert_one_run_in_order(read_back(topics, count, timeout_s=60), run.run_id, count)
