"""The asyncio SDK never blocks the caller's event loop."""

from __future__ import annotations

import asyncio

import pytest

from tests.sdk.test_client import read_back
from warden.core.settings import WardenSettings
from warden.sdk import AsyncWardenClient

pytestmark = pytest.mark.integration


def test_emitting_thousands_of_events_leaves_the_loop_free(topics: WardenSettings) -> None:
    async def scenario() -> tuple[int, int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        tick_task = asyncio.create_task(ticker())
        async with AsyncWardenClient(topics) as client:
            run = client.run("globex", "triage_ticket", "agent-9")
            await run.started("v1", "p1", "claude-3-5-haiku")
            for i in range(5000):
                await run.llm_call("claude-3-5-haiku", "anthropic", 100 + i, 20, 300.0)
                if i % 100 == 0:
                    await asyncio.sleep(0)  # an agent awaits other work between calls
            await run.completed("succeeded")
            await client.flush()
        stop.set()
        await tick_task
        return ticks, client.stats["delivered"]

    ticks, delivered = asyncio.run(scenario())
    assert delivered == 5002
    assert ticks >= 50  # the ticker ran while events were emitted and flushed
    assert len(read_back(topics, 5002, timeout_s=60)) == 5002
