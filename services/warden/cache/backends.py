"""Where cached answers live: in the process (default) or in Redis, shared by every replica.

Both keep an entry under its tenant (the Redis key is `<prefix><tenant>:<digest>`; the digest has the
tenant hashed in too) and check its expiry against the caller's event time, so a lookup at a given time
finds what the decisions (decide.py) say was stored and still live, the same in the SDK and in replay.
Redis's own expiry (the workflow's TTL, wall clock) only clears entries nobody asks for.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from cachetools import LRUCache

from warden.core.errors import CacheError, ConfigError


@dataclass(frozen=True)
class Entry:
    output: Any  # the answer (text or JSON) or the embedding
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # as reported on the call that made it; None: the price table prices it
    answered_at: datetime
    expires_at: datetime
    event_id: str  # the llm_call that made it

    def live_at(self, at: datetime) -> bool:
        return self.answered_at <= at < self.expires_at

    def to_json(self) -> str:
        data = asdict(self)
        data["answered_at"], data["expires_at"] = self.answered_at.isoformat(), self.expires_at.isoformat()
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Entry:
        data = json.loads(text)
        data["answered_at"] = datetime.fromisoformat(data["answered_at"])
        data["expires_at"] = datetime.fromisoformat(data["expires_at"])
        return cls(**data)


class CacheBackend(Protocol):
    name: str

    def get(self, tenant_id: str, key: str, at: datetime) -> Entry | None: ...

    def put(self, tenant_id: str, key: str, entry: Entry) -> None: ...

    def close(self) -> None: ...


class MemoryBackend:
    """One process's entries, least recently used evicted past `max_entries`."""

    name = "memory"

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ConfigError(f"the in-process cache needs max_entries >= 1, got {max_entries}")
        self._entries: LRUCache[tuple[str, str], Entry] = LRUCache(maxsize=max_entries)
        self._lock = threading.Lock()  # LRUCache reorders on read: not safe across threads by itself

    def get(self, tenant_id: str, key: str, at: datetime) -> Entry | None:
        with self._lock:
            entry = self._entries.get((tenant_id, key))
        return entry if entry is not None and entry.live_at(at) else None

    def put(self, tenant_id: str, key: str, entry: Entry) -> None:
        with self._lock:
            self._entries[(tenant_id, key)] = entry

    def close(self) -> None:
        return None


def redis_key(prefix: str, tenant_id: str, key: str) -> str:
    """`<prefix><tenant>:<digest>`: the sync and asyncio Redis stores read and write the same entries."""
    return f"{prefix}{tenant_id}:{key}"


def redis_ttl_ms(entry: Entry) -> int:
    return max(1, int((entry.expires_at - entry.answered_at).total_seconds() * 1000))


def redis_module(url: str) -> Any:
    try:
        import redis  # only a shared store needs it: the light SDK has it as the [redis] extra
    except ImportError as exc:
        raise ConfigError(f"WARDEN_CACHE_BACKEND {url!r} needs the redis package: "
                          "pip install 'warden-sdk[redis]'") from exc
    return redis


def bad_url(url: str, exc: ValueError) -> ConfigError:
    return ConfigError(f"WARDEN_CACHE_BACKEND {url!r} is not a Redis URL (redis://host:port/db): {exc}")


def live_entry(raw: str | bytes | None, at: datetime) -> Entry | None:
    if raw is None:
        return None
    entry = Entry.from_json(raw)
    return entry if entry.live_at(at) else None


class RedisBackend:
    """Entries in Redis (or Valkey, same protocol), so every replica of an agent shares them."""

    name = "redis"

    def __init__(self, url: str, prefix: str = "warden:cache:", timeout_s: float = 0.5) -> None:
        redis = redis_module(url)
        self.url, self.prefix = url, prefix
        try:
            self._client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        except ValueError as exc:
            raise bad_url(url, exc) from exc
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)

    def get(self, tenant_id: str, key: str, at: datetime) -> Entry | None:
        try:
            raw = self._client.get(redis_key(self.prefix, tenant_id, key))
        except self._errors as exc:
            raise CacheError(f"Redis at {self.url} failed a cache read: {exc}") from exc
        return live_entry(raw, at)

    def put(self, tenant_id: str, key: str, entry: Entry) -> None:
        try:
            self._client.set(redis_key(self.prefix, tenant_id, key), entry.to_json(), px=redis_ttl_ms(entry))
        except self._errors as exc:
            raise CacheError(f"Redis at {self.url} failed a cache write: {exc}") from exc

    def close(self) -> None:
        self._client.close()


def backend_for(spec: str, max_entries: int = 10_000, prefix: str = "warden:cache:",
                timeout_s: float = 0.5) -> CacheBackend:
    """`memory`, or a `redis://` / `rediss://` / `unix://` URL."""
    if spec == "memory":
        return MemoryBackend(max_entries)
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisBackend(spec, prefix, timeout_s)
    raise ConfigError(f"WARDEN_CACHE_BACKEND must be 'memory' or a redis:// URL, got {spec!r}")
