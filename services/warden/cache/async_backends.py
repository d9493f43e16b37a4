"""The cache's stores for the asyncio SDK: the same entries, keys and expiry as warden.cache.backends.

The in-process store is the sync one (a dictionary behind a lock: no I/O to wait for); the shared one is
redis-py's asyncio client (`redis.asyncio`, from the same `redis` package), so a lookup never blocks the
event loop. A sync and an asyncio replica on one Redis read each other's entries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from warden.cache.backends import (
    Entry,
    MemoryBackend,
    bad_url,
    live_entry,
    redis_key,
    redis_module,
    redis_ttl_ms,
)
from warden.core.errors import CacheError, ConfigError


class AsyncCacheBackend(Protocol):
    name: str

    async def get(self, tenant_id: str, key: str, at: datetime) -> Entry | None: ...

    async def put(self, tenant_id: str, key: str, entry: Entry) -> None: ...

    async def close(self) -> None: ...


class AsyncMemoryBackend:
    """This process's entries (warden.cache.backends.MemoryBackend), awaited."""

    name = "memory"

    def __init__(self, max_entries: int = 10_000) -> None:
        self.store = MemoryBackend(max_entries)

    async def get(self, tenant_id: str, key: str, at: datetime) -> Entry | None:
        return self.store.get(tenant_id, key, at)

    async def put(self, tenant_id: str, key: str, entry: Entry) -> None:
        self.store.put(tenant_id, key, entry)

    async def close(self) -> None:
        return None


class AsyncRedisBackend:
    """Entries in Redis through `redis.asyncio`; a client is bound to the event loop that first uses it."""

    name = "redis"

    def __init__(self, url: str, prefix: str = "warden:cache:", timeout_s: float = 0.5) -> None:
        redis = redis_module(url)
        from redis import asyncio as aioredis  # the same package's asyncio client (redis-py >= 4.2)

        self.url, self.prefix = url, prefix
        try:
            self._client = aioredis.Redis.from_url(url, socket_timeout=timeout_s,
                                                         socket_connect_timeout=timeout_s)
        except ValueError as exc:
            raise bad_url(url, exc) from exc
        # redis.asyncio raises redis.RedisError (its TimeoutError and ConnectionError included)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)

    async def get(self, tenant_id: str, key: str, at: datetime) -> Entry | None:
        try:
            raw = await self._client.get(redis_key(self.prefix, tenant_id, key))
        except self._errors as exc:
            raise CacheError(f"Redis at {self.url} failed a cache read: {exc}") from exc
        return live_entry(raw, at)

    async def put(self, tenant_id: str, key: str, entry: Entry) -> None:
        try:
            await self._client.set(redis_key(self.prefix, tenant_id, key), entry.to_json(), px=redis_ttl_ms(entry))
        except self._errors as exc:
            raise CacheError(f"Redis at {self.url} failed a cache write: {exc}") from exc

    async def close(self) -> None:
        await self._client.aclose()


def async_backend_for(spec: str, max_entries: int = 10_000, prefix: str = "warden:cache:",
                      timeout_s: float = 0.5) -> AsyncCacheBackend:
    """As warden.cache.backends.backend_for: `memory`, or a `redis://` / `rediss://` / `unix://` URL."""
    if spec == "memory":
        return AsyncMemoryBackend(max_entries)
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return AsyncRedisBackend(spec, prefix, timeout_s)
    raise ConfigError(f"WARDEN_CACHE_BACKEND must be 'memory' or a redis:// URL, got {spec!r}")
