"""The two stores, the same contract: per tenant, expiry on the caller's event time; Redis shared by replicas."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.redis_server import redis_url  # noqa: F401 - the session's real redis-server
from warden.cache.backends import CacheBackend, Entry, MemoryBackend, RedisBackend, backend_for
from warden.core.errors import CacheError, ConfigError

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def entry(output: object = "30 days", ttl_s: float = 60) -> Entry:
    return Entry(output, "gpt-4o", "openai", 900, 60, None, T0, T0 + timedelta(seconds=ttl_s), "e-1")


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, redis_url: str) -> Iterator[CacheBackend]:  # noqa: F811
    store = MemoryBackend(100) if request.param == "memory" else \
        RedisBackend(redis_url, prefix=f"test:{request.node.name}:")
    yield store
    store.close()


def test_an_entry_is_served_until_it_expires_on_event_time(backend: CacheBackend) -> None:
    backend.put("acme", "k", entry({"answer": ["x"]}, ttl_s=60))
    found = backend.get("acme", "k", T0 + timedelta(seconds=59))
    assert found is not None and found.output == {"answer": ["x"]} and found.input_tokens == 900
    assert backend.get("acme", "k", T0 + timedelta(seconds=60)) is None
    assert backend.get("acme", "k", T0 - timedelta(seconds=1)) is None  # not made yet at that time


def test_one_tenants_entry_is_never_anothers(backend: CacheBackend) -> None:
    backend.put("acme", "k", entry())
    assert backend.get("globex", "k", T0) is None
    assert backend.get("acme", "k", T0) is not None


def test_the_in_process_store_evicts_the_least_recently_used() -> None:
    store = MemoryBackend(2)
    for key in ("a", "b"):
        store.put("acme", key, entry())
    assert store.get("acme", "a", T0) is not None  # a is now the most recent
    store.put("acme", "c", entry())
    assert store.get("acme", "b", T0) is None and store.get("acme", "a", T0) is not None


def test_replicas_share_the_redis_store_and_not_the_in_process_one(redis_url: str) -> None:  # noqa: F811
    one, two = RedisBackend(redis_url, prefix="test:replicas:"), RedisBackend(redis_url, prefix="test:replicas:")
    one.put("acme", "k", entry())
    assert two.get("acme", "k", T0) is not None
    assert MemoryBackend().get("acme", "k", T0) is None


def test_redis_keeps_the_ttl_as_its_own_expiry(redis_url: str) -> None:  # noqa: F811
    import redis

    RedisBackend(redis_url, prefix="test:ttl:").put("acme", "k", entry(ttl_s=120))
    ttl = redis.Redis.from_url(redis_url).pttl("test:ttl:acme:k")
    assert 0 < ttl <= 120_000


def test_a_redis_that_is_down_is_a_cache_error_naming_it() -> None:
    store = RedisBackend("redis://127.0.0.1:1/0", timeout_s=0.2)
    with pytest.raises(CacheError, match=r"127\.0\.0\.1:1"):
        store.get("acme", "k", T0)
    with pytest.raises(CacheError, match="cache write"):
        store.put("acme", "k", entry())


def test_a_backend_that_is_neither_memory_nor_redis_is_refused() -> None:
    with pytest.raises(ConfigError, match="memcached://x"):
        backend_for("memcached://x")
    with pytest.raises(ConfigError, match="max_entries"):
        backend_for("memory", max_entries=0)
