"""`run.cache` for the asyncio SDK: the sync cache's rules, keys, events and decisions, an awaited store.

Only the store differs from warden.sdk.cache: lookups and writes are awaited (`redis.asyncio` for a shared
store), so a lookup never blocks the event loop. What is looked up, what an event records (hits with what
they saved, offers with the redactor's PII kinds) and what is stored or refused (warden.cache.decide, per
tenant, the workflow's TTL, no PII, nothing that led to a side effect, workflows that opt out) is the same
code as the sync cache's: CacheBook, hit_body, offer_body and enabled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from warden.cache import decide
from warden.cache.async_backends import AsyncCacheBackend, async_backend_for
from warden.cache.backends import Entry
from warden.cache.keys import cache_key
from warden.cache.rules import CacheRules
from warden.core.errors import CacheError
from warden.core.events import AgentEvent, EventType
from warden.sdk.cache import CacheBook, CacheHit, CacheSettings, enabled, hit_body, offer_body

if TYPE_CHECKING:
    from warden.sdk.async_client import AsyncRun


class AsyncAnswerCache(CacheBook):
    """One per AsyncWardenClient: its store (WARDEN_CACHE_BACKEND, as the sync client's) and decisions."""

    def __init__(self, backend: AsyncCacheBackend | None = None, rules: CacheRules | None = None,
                 on_decision: Callable[[decide.CacheDecision], None] | None = None) -> None:
        super().__init__(rules, on_decision)
        self.backend = backend or async_backend_for("memory")

    @classmethod
    def from_settings(cls, settings: CacheSettings | None = None) -> AsyncAnswerCache:
        s = settings or CacheSettings()
        return cls(async_backend_for(s.backend, s.max_entries, s.key_prefix, s.timeout_s))

    async def get(self, tenant_id: str, key: str, at: datetime) -> Entry | None:
        try:
            return await self.backend.get(tenant_id, key, at)
        except CacheError as exc:
            self.store_failed(exc, "served as a miss")
            return None

    async def observe(self, event: AgentEvent) -> None:
        for decision, entry in self.decided(event):
            if entry is not None:
                try:
                    await self.backend.put(decision.tenant_id, decision.cache_key, entry)
                except CacheError as exc:
                    self.store_failed(exc, "the answer is not kept")
            self.report(decision)

    async def close(self) -> None:
        await self.backend.close()


class AsyncRunCache:
    """`run.cache` of an AsyncRun: as warden.sdk.cache.RunCache, awaited."""

    def __init__(self, run: AsyncRun, cache: AsyncAnswerCache) -> None:
        self.run, self.cache = run, cache

    def key(self, model: str, input: Any, kind: str = "answer") -> str:
        return cache_key(self.run.events.tenant_id, model, kind, input)

    async def lookup(self, model: str, input: Any, *, kind: str = "answer",
                     at: datetime | None = None, route: str | None = None) -> CacheHit | None:
        """The cached answer for this input, recorded as a cached llm_call; None: call the model, then `record`."""
        events = self.run.events
        if not enabled(self.cache, events.workflow):
            return None
        started = time.perf_counter()
        key = self.key(model, input, kind)
        when = at or datetime.now(UTC)
        entry = await self.cache.get(events.tenant_id, key, when)
        if entry is None:
            self.cache.stats["misses"] += 1
            return None
        body = hit_body(entry, key, (time.perf_counter() - started) * 1000, route)
        event = events.build(EventType.LLM_CALL, body, when)
        await self.run.client.emit(event)
        await self.cache.observe(event)
        return CacheHit(entry.output, event, entry)

    async def record(self, model: str, provider: str, input: Any, output: Any, input_tokens: int,
                     output_tokens: int, latency_ms: float, *, kind: str = "answer", cached_tokens: int = 0,
                     cost_usd: float | None = None, route: str | None = None,
                     at: datetime | None = None) -> AgentEvent:
        """Record the model call (as `run.llm_call` does) and offer its answer to the cache."""
        body = offer_body(self.key(model, input, kind), model, provider, input, output, input_tokens, output_tokens,
                          latency_ms, cached_tokens, cost_usd, route)
        event = self.run.events.build(EventType.LLM_CALL, body, at)
        if body.cache_pii is None:
            self.cache.hold(event, output, body)  # before it is observed: the decision may come at once
        await self.run.client.emit(event)
        await self.cache.observe(event)
        return event
