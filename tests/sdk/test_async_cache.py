"""The asyncio SDK's cache: the sync cache's rules (per tenant, TTL, PII, side effects, opt-out, hits recorded
on the llm_call) on both stores, the in-process one and a real redis-server through redis.asyncio; shared with
sync replicas; and on the real broker, the same decisions as `warden replay`."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import redis_url  # noqa: F401 - the session's real redis-server
from tests.sdk.test_client import read_back
from warden.cache.async_backends import AsyncMemoryBackend, AsyncRedisBackend, async_backend_for
from warden.cache.backends import RedisBackend
from warden.cache.decide import CacheDecision
from warden.cache.keys import cache_key
from warden.core.errors import ConfigError
from warden.core.events import AgentEvent, LlmCall
from warden.core.settings import WardenSettings
from warden.replay.runner import replay
from warden.sdk import AsyncRun, AsyncWardenClient
from warden.sdk.async_cache import AsyncAnswerCache
from warden.sdk.cache import AnswerCache
from warden.sdk.run import RunEvents

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PROMPT = "What is   the refund window for order o-1?"


class Recorder:
    """What an AsyncRun needs of its client (an awaited emit and a cache), keeping the events."""

    def __init__(self, cache: AsyncAnswerCache) -> None:
        self.cache, self.events, self.decisions = cache, list[AgentEvent](), list[CacheDecision]()
        cache.on_decision = self.decisions.append

    async def emit(self, event: AgentEvent) -> None:
        self.events.append(event)


def run_of(client: Recorder, tenant: str = "acme", workflow: str = "refund_ticket", run_id: str = "run-1") -> AsyncRun:
    return AsyncRun(client, RunEvents(tenant, workflow, "agent-1", run_id, None))  # type: ignore[arg-type]


async def answer(run: AsyncRun, at: datetime, output: Any = "30 days from delivery",
                 prompt: str = PROMPT) -> AgentEvent:
    return await run.cache.record("gpt-4o", "openai", prompt, output, 900, 60, latency_ms=700.0, at=at)


def body(event: AgentEvent) -> LlmCall:
    assert isinstance(event.body, LlmCall)
    return event.body


Scenario = Callable[[Recorder], Awaitable[None]]


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Callable[[], AsyncAnswerCache]:
    """A fresh cache per call on each store; the Redis ones share a prefix per test (as replicas would)."""
    if request.param == "memory":
        return lambda: AsyncAnswerCache(AsyncMemoryBackend())
    url = request.getfixturevalue("redis_url")
    prefix = f"test:async:{uuid.uuid4().hex[:8]}:"
    return lambda: AsyncAnswerCache(AsyncRedisBackend(url, prefix))


def play(store: Callable[[], AsyncAnswerCache], scenario: Scenario) -> Recorder:
    async def main() -> Recorder:
        client = Recorder(store())
        try:
            await scenario(client)
        finally:
            await client.cache.close()
        return client
    return asyncio.run(main())


def test_a_repeated_question_is_served_and_the_hit_records_what_it_saved(
        store: Callable[[], AsyncAnswerCache]) -> None:
    async def scenario(c: Recorder) -> None:
        first = run_of(c)
        assert await first.cache.lookup("gpt-4o", PROMPT, at=T0) is None
        offered = await answer(first, T0)
        assert body(offered).cache_key is not None and not body(offered).cache_hit
        await first.completed("succeeded", at=T0 + timedelta(seconds=2))
        second = run_of(c, run_id="run-2")
        hit = await second.cache.lookup("gpt-4o", "What is the refund window for order o-1?",
                                        at=T0 + timedelta(minutes=5))
        assert hit is not None and hit.output == "30 days from delivery"
        recorded = body(hit.event)
        assert (recorded.cache_hit, recorded.input_tokens, recorded.cost_usd) == (True, 0, 0.0)
        assert (recorded.saved_input_tokens, recorded.saved_output_tokens) == (900, 60)
        assert recorded.cache_key == body(offered).cache_key and hit.event.step == 1
        assert hit.event in c.events  # recorded on the run's events, as any llm_call
    c = play(store, scenario)
    assert [d.decision.value for d in c.decisions] == ["stored", "hit"]
    assert c.cache.stats["misses"] == 1 and c.cache.stats["hit"] == 1


def test_no_tenant_is_served_another_tenants_answer_and_none_past_the_ttl(
        store: Callable[[], AsyncAnswerCache]) -> None:
    async def scenario(c: Recorder) -> None:
        run = run_of(c)
        await answer(run, T0)
        await run.completed("succeeded", at=T0)
        assert await run_of(c, tenant="globex", run_id="run-2").cache.lookup("gpt-4o", PROMPT, at=T0) is None
        later = run_of(c, run_id="run-3")
        assert await later.cache.lookup("gpt-4o", PROMPT, at=T0 + timedelta(seconds=3599)) is not None
        assert await later.cache.lookup("gpt-4o", PROMPT, at=T0 + timedelta(seconds=3600)) is None
    play(store, scenario)


@pytest.mark.parametrize(("prompt", "output", "kinds"), [
    ("Write to jane.doe@example.com about her refund", "Done", "email"),
    (PROMPT, {"reply": "card 4111 1111 1111 1111 refunded"}, "card"),
])
def test_pii_in_the_input_or_the_output_is_never_cached(store: Callable[[], AsyncAnswerCache], prompt: str,
                                                        output: Any, kinds: str) -> None:
    async def scenario(c: Recorder) -> None:
        run = run_of(c)
        event = await answer(run, T0, output, prompt)
        await run.completed("succeeded", at=T0)
        assert body(event).cache_pii == kinds
        assert "example.com" not in event.model_dump_json() and "4111" not in event.model_dump_json()
        assert await run_of(c, run_id="run-2").cache.lookup("gpt-4o", prompt, at=T0) is None
    c = play(store, scenario)
    assert [(d.decision.value, d.reason) for d in c.decisions] == [("refused", f"pii:{kinds}")]


def test_an_answer_that_led_to_a_side_effect_is_not_cached_and_a_read_only_one_is(
        store: Callable[[], AsyncAnswerCache]) -> None:
    async def scenario(c: Recorder) -> None:
        run = run_of(c)
        await answer(run, T0, "refund o-1 for $20")
        await run.tool_call_requested("payments", "refund", {"order_id": "o-1", "amount_usd": 20.0}, at=T0)
        await run.completed("succeeded", at=T0)
        assert await run_of(c, run_id="run-2").cache.lookup("gpt-4o", PROMPT, at=T0) is None
        looked = run_of(c, run_id="run-3")
        await answer(looked, T0, "look them up", "Who is customer c-1?")
        await looked.tool_call_requested("crm", "lookup", {"customer_id": "c-1"}, at=T0)
        await looked.llm_call("gpt-4o", "openai", 100, 10, 50.0, at=T0)  # the next model call stores it
    c = play(store, scenario)
    assert [(d.decision.value, d.reason) for d in c.decisions] == [("refused", "side_effect:payments.refund"),
                                                                   ("stored", "")]


def test_a_workflow_that_disables_the_cache_is_never_looked_up_nor_stored(
        store: Callable[[], AsyncAnswerCache]) -> None:
    async def scenario(c: Recorder) -> None:
        run = run_of(c, workflow="provision_access")
        assert await run.cache.lookup("gpt-4o", PROMPT, at=T0) is None
        await answer(run, T0)
        await run.completed("succeeded", at=T0)
    c = play(store, scenario)
    assert c.cache.stats["disabled"] == 1 and c.cache.stats["misses"] == 0
    assert [(d.decision.value, d.reason) for d in c.decisions] == [("refused", "workflow_disabled")]


def test_a_redis_that_is_down_is_a_miss_and_never_fails_the_agent() -> None:
    c = play(lambda: AsyncAnswerCache(AsyncRedisBackend("redis://127.0.0.1:1/0", timeout_s=0.2)),
             lambda c: _answer_and_complete(c))
    assert c.cache.stats["backend_errors"] == 2 and c.cache.stats["stored"] == 1


async def _answer_and_complete(c: Recorder) -> None:
    run = run_of(c)
    assert await run.cache.lookup("gpt-4o", PROMPT, at=T0) is None
    await answer(run, T0)
    await run.completed("succeeded", at=T0)  # the store refuses the write: counted, the run goes on


def test_a_bad_store_is_refused_at_once() -> None:
    with pytest.raises(ConfigError, match="'memcached://x'"):
        async_backend_for("memcached://x")


@pytest.mark.integration
def test_async_and_sync_replicas_share_through_redis_and_decide_as_warden_replay(
        topics: WardenSettings, redis_url: str, tmp_path: Path) -> None:  # noqa: F811
    """Two AsyncWardenClients and a sync WardenClient on the real broker and one real redis-server: what one
    stores the others are served; the events read back from the topic replay to the same decisions."""
    prefix = f"test:async-replicas:{uuid.uuid4().hex[:8]}:"
    live: list[CacheDecision] = []

    async def main() -> None:
        async with AsyncWardenClient(topics) as one, AsyncWardenClient(topics) as two:
            one.cache = AsyncAnswerCache(AsyncRedisBackend(redis_url, prefix), on_decision=live.append)
            two.cache = AsyncAnswerCache(AsyncRedisBackend(redis_url, prefix), on_decision=live.append)
            async with one.run("acme", "refund_ticket", "agent-1", run_id="async-cache-1") as run:
                await run.started("v1", "p1", "gpt-4o", at=T0)
                assert await run.cache.lookup("gpt-4o", PROMPT, at=T0) is None
                await run.cache.record("gpt-4o", "openai", PROMPT, "30 days", 900, 60, 500.0, at=T0)
                await run.completed("succeeded", at=T0 + timedelta(seconds=1))
            async with two.run("acme", "refund_ticket", "agent-2", run_id="async-cache-2") as run:
                await run.started("v1", "p1", "gpt-4o", at=T0 + timedelta(seconds=10))
                hit = await run.cache.lookup("gpt-4o", PROMPT, at=T0 + timedelta(seconds=10))
                assert hit is not None and hit.output == "30 days" and body(hit.event).saved_input_tokens == 900
                await run.cache.record("gpt-4o", "openai", "refund o-2", "refund it", 800, 50, 400.0,
                                       at=T0 + timedelta(seconds=11))
                await run.tool_call_requested("payments", "refund", {"order_id": "o-2", "amount_usd": 5.0},
                                              at=T0 + timedelta(seconds=12))
                await run.completed("succeeded", at=T0 + timedelta(seconds=13))

    asyncio.run(main())
    sync = AnswerCache(RedisBackend(redis_url, prefix))  # a sync replica reads what the asyncio ones stored
    stored = sync.get("acme", cache_key("acme", "gpt-4o", "answer", PROMPT), T0 + timedelta(seconds=20))
    assert stored is not None and stored.output == "30 days"
    sync.close()
    events = [e for _, e in read_back(topics, 8)]
    assert len(events) == 8
    path = tmp_path / "events.jsonl"
    path.write_text("".join(e.model_dump_json() + "\n" for e in sorted(events, key=lambda e: (e.occurred_at, e.step))))
    replay(path, tmp_path / "out")
    offline = [CacheDecision.model_validate(json.loads(line))
               for line in (tmp_path / "out" / "cache.jsonl").read_text().splitlines()]
    assert [(d.decision.value, d.reason) for d in live] == [
        ("stored", ""), ("hit", ""), ("refused", "side_effect:payments.refund")]
    assert offline == live
