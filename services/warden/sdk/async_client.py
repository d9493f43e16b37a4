"""asyncio face of the SDK: the same client, and never a blocking call on the event loop.

``emit`` only encodes and enqueues (microseconds); a full local queue is waited out with
``asyncio.sleep``; schema registration (a file lock or an HTTP round trip), flushing and
closing run in a worker thread.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from warden.core.errors import WardenError
from warden.core.events import AgentEvent
from warden.core.headers import event_headers
from warden.core.settings import WardenSettings
from warden.sdk import routing
from warden.sdk.client import WardenClient
from warden.sdk.gate import GateVerdict
from warden.sdk.outbox import Item
from warden.sdk.run import RunEvents

if TYPE_CHECKING:
    from collections.abc import Callable

    from warden.core.rollout_assign import Assignment
    from warden.routing.features import Value
    from warden.routing.policy import RouteChoice
    from warden.routing.watcher import RoutingWatcher
    from warden.sdk.async_cache import AsyncAnswerCache, AsyncRunCache


class _LoopSafeClient(WardenClient):
    """The sync client minus the blocking schema registration in ``__init__``.

    An asyncio client is usually built inside a coroutine; registration is awaited in a thread
    on ``async with`` or on the first emit instead.
    """

    _register_at_init = False


class AsyncWardenClient:
    def __init__(self, settings: WardenSettings | None = None, *, max_wait_s: float = 10.0,
                 producer_config: dict[str, Any] | None = None) -> None:
        self.sync: WardenClient = _LoopSafeClient(settings, max_wait_s=max_wait_s,
                                                  producer_config=producer_config)
        self._cache: AsyncAnswerCache | None = None
        self._view_opening = asyncio.Lock()  # one first release_for opens the control view, the others wait

    @property
    def cache(self) -> AsyncAnswerCache:
        """The SDK cache of this client's runs (`run.cache`), its store from WARDEN_CACHE_BACKEND (first use)."""
        if self._cache is None:
            from warden.sdk.async_cache import AsyncAnswerCache

            self._cache = AsyncAnswerCache.from_settings()
        return self._cache

    @cache.setter
    def cache(self, cache: AsyncAnswerCache) -> None:
        self._cache = cache

    @property
    def stats(self) -> dict[str, int]:
        return self.sync.stats

    @property
    def settings(self) -> WardenSettings:
        return self.sync.settings

    @property
    def routing(self) -> RoutingWatcher:
        """The routing file run.route decides from (the sync client's)."""
        return self.sync.routing

    def run(self, tenant_id: str, workflow: str, agent_id: str, *, run_id: str | None = None,
            user_id: str | None = None) -> AsyncRun:
        return AsyncRun(self, RunEvents(tenant_id, workflow, agent_id, run_id or str(uuid.uuid4()), user_id))

    async def release_for(self, tenant_id: str, workflow: str, unit: str) -> Assignment:
        """WardenClient.release_for: from memory once the control view has read the control topic; until then
        (the first call opens the view and waits up to max_wait_s for it) in a worker thread, one at a time."""
        control = self.sync._control
        if control is None or not control.caught_up.is_set():
            async with self._view_opening:
                return await asyncio.to_thread(self.sync.release_for, tenant_id, workflow, unit)
        return self.sync.release_for(tenant_id, workflow, unit)

    async def _ready(self) -> None:
        if not self.sync._schema_ready:
            await asyncio.to_thread(self.sync._register_schema)

    async def emit(self, event: AgentEvent) -> None:
        if not self.sync._schema_ready:
            await self._ready()
        if self.sync._outbox is not None:  # sdk_encode="delivery_thread": check and queue, never wait in the loop
            await self._queue(self.sync._checked(event))
            return
        value, key, deadline = self.sync._prepare(event)
        headers = event_headers(event)
        while not self.sync._produce(value, key, headers):
            self.sync._check_queue_wait(deadline)
            await asyncio.sleep(0.005)  # the poller thread serves the delivery reports that free the queue

    async def _queue(self, item: Item) -> None:
        """As WardenClient._queue, a full outbox waited out with asyncio.sleep."""
        if not self.sync._put_now(item):
            for _ in self.sync._queue_waits(item):
                await asyncio.sleep(0.005)

    async def flush(self, timeout_s: float | None = None) -> None:
        await asyncio.to_thread(self.sync.flush, timeout_s)

    async def close(self) -> None:
        try:
            await asyncio.to_thread(self.sync.close)
        finally:
            if self._cache is not None:
                await self._cache.close()

    async def __aenter__(self) -> AsyncWardenClient:
        await self._ready()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


class AsyncRun:
    def __init__(self, client: AsyncWardenClient, events: RunEvents) -> None:
        self.client = client
        self.events = events
        self.current_route: str | None = None
        self._cache: AsyncRunCache | None = None

    @property
    def cache(self) -> AsyncRunCache:
        """The SDK cache for this run's repeated answers and embeddings (warden.sdk.async_cache), awaited."""
        if self._cache is None:
            from warden.sdk.async_cache import AsyncRunCache

            self._cache = AsyncRunCache(self, self.client.cache)
        return self._cache

    async def _observed(self, event: AgentEvent) -> AgentEvent:
        """As Run._observed: a run that used the cache shows it each event, what its answers led to decides."""
        if self._cache is not None:
            await self._cache.cache.observe(event)
        return event

    async def route(self, **features: Value) -> RouteChoice:
        """As Run.route; the decision's event is sent before this returns (no deferral in asyncio), or, with
        sdk_encode="delivery_thread", built and sent by the delivery thread in step order."""
        choice, build = routing.decision(self, features)
        await self._record(build)
        return choice

    async def escalate(self, reason: str, *, confidence: float | None = None) -> RouteChoice:
        choice, build = routing.escalation(self, reason, confidence)
        await self._record(build)
        return choice

    async def _record(self, build: Callable[[], AgentEvent]) -> None:
        if self.client.sync._outbox is not None:
            if self.client.sync._closed.is_set():
                raise WardenError("this WardenClient is closed: events emitted now would never be delivered")
            await self.client._queue(build)
        else:
            await self._emit(build())

    @property
    def run_id(self) -> str:
        return self.events.run_id

    @property
    def step(self) -> int:
        """The step number of the last event built (0 before the first)."""
        return self.events.step

    @property
    def is_completed(self) -> bool:
        return self.events.completed

    async def _emit(self, event: AgentEvent) -> AgentEvent:
        await self.client.emit(event)
        return event

    async def started(self, workflow_version: str, prompt_version: str, model: str, *,
                      at: datetime | None = None, release: str | None = None) -> AgentEvent:
        return await self._emit(self.events.started(workflow_version, prompt_version, model, at, release))

    async def llm_call(self, model: str, provider: str, input_tokens: int, output_tokens: int,
                       latency_ms: float, *, cached_tokens: int = 0, cost_usd: float | None = None,
                       at: datetime | None = None, route: str | None = None) -> AgentEvent:
        return await self._observed(await self._emit(self.events.llm_call(
            model, provider, input_tokens, output_tokens, latency_ms, cached_tokens, cost_usd, at, route)))

    async def tool_call_requested(self, tool: str, action: str, params: dict[str, Any] | str, *,
                                  resource: str | None = None, call_id: str | None = None,
                                  at: datetime | None = None) -> str:
        event = await self._emit(self.events.tool_call_requested(tool, action, params, resource, call_id, at))
        await self._observed(event)
        return event.body.call_id  # type: ignore[union-attr]

    async def authorize(self, tool: str, action: str, params: dict[str, Any] | str, *,
                        resource: str | None = None, timeout_s: float = 10.0,
                        approval_timeout_s: float = 900.0, risk_timeout_s: float = 2.0,
                        risk_required: bool = False) -> tuple[str, GateVerdict]:
        """Request a tool call and await Warden's verdict without blocking the loop (fails closed)."""
        sync = self.client.sync
        await asyncio.to_thread(sync.gate)
        call_id = await self.tool_call_requested(tool, action, params, resource=resource)
        await self.client.flush()
        return call_id, await asyncio.to_thread(sync.authorize, call_id, timeout_s, approval_timeout_s,
                                                risk_timeout_s, risk_required)

    async def tool_call_completed(self, call_id: str, tool: str, status: str, latency_ms: float, *,
                                  output: dict[str, Any] | list[Any] | str | None = None,
                                  error_code: str | None = None, at: datetime | None = None) -> AgentEvent:
        return await self._emit(self.events.tool_call_completed(call_id, tool, status, latency_ms, output,
                                                                error_code, at))

    async def completed(self, status: str, *, state_change: dict[str, Any] | str | None = None,
                        at: datetime | None = None) -> AgentEvent:
        return await self._observed(await self._emit(self.events.run_completed(status, state_change, at)))

    async def __aenter__(self) -> AsyncRun:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if exc is not None and not self.events.completed:
            await self.completed("failed", state_change={"error": type(exc).__name__})
