"""Token buckets in the process and shared through SQLite by several processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from warden.core.errors import ConfigError
from warden.tool_proxy.inventory import Limit
from warden.tool_proxy.limits import Bucket, MemoryStore, SqliteStore, Store, open_store


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "limits.db")


def test_a_bucket_allows_its_burst_then_refuses_with_the_time_to_wait(store: Store) -> None:
    run = Bucket("run:acme/r1:payments", Limit(rate_per_s=0.5, burst=3))
    assert [store.take([run], 100.0).ok for _ in range(4)] == [True, True, True, False]
    refused = store.take([run], 100.0)
    assert (refused.ok, refused.bucket, refused.retry_after_s, refused.retry_after_header) == (
        False, run.key, 2.0, "2")
    assert not store.take([run], 101.0).ok  # half a token
    assert store.take([run], 102.0).ok  # one token refilled after 2 s
    assert [store.take([run], 1000.0).ok for _ in range(4)] == [True, True, True, False]  # refills to burst only


def test_a_call_takes_from_all_its_buckets_or_from_none(store: Store) -> None:
    tenant = Bucket("tenant:acme:payments", Limit(0.001, 5))
    run_a = Bucket("run:acme/a:payments", Limit(0.001, 2))
    run_b = Bucket("run:acme/b:payments", Limit(0.001, 10))
    assert [store.take([tenant, run_a], 0.0).ok for _ in range(3)] == [True, True, False]
    # run a's refusals did not spend the tenant's tokens: 3 left for run b
    assert [store.take([tenant, run_b], 0.0).ok for _ in range(4)] == [True, True, True, False]


def test_revocations_hold_until_they_lapse(store: Store) -> None:
    store.revoke("token:t1", until=50.0, now=0.0)
    assert store.revoked(["token:t0", "token:t1"], 10.0)
    assert not store.revoked(["token:t0"], 10.0)
    assert not store.revoked(["token:t1"], 50.0)


def _take_many(path: str, n: int, out: multiprocessing.Queue[int]) -> None:
    store = SqliteStore(Path(path))
    bucket = Bucket("tenant:acme:payments", Limit(rate_per_s=0.0001, burst=40))
    out.put(sum(store.take([bucket], 1000.0).ok for _ in range(n)))
    store.close()


def test_replicas_sharing_the_sqlite_file_share_the_buckets(tmp_path: Path) -> None:
    """Four processes take 25 each from one bucket of 40: exactly 40 succeed, whoever wins the races."""
    path = str(tmp_path / "shared.db")
    SqliteStore(Path(path)).close()
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[int] = ctx.Queue()
    workers = [ctx.Process(target=_take_many, args=(path, 25, out)) for _ in range(4)]
    for w in workers:
        w.start()
    counts = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(30)
    assert sum(counts) == 40, counts


def test_per_process_is_the_default_and_other_urls_are_refused(tmp_path: Path) -> None:
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store(f"sqlite://{tmp_path}/x.db"), SqliteStore)
    with pytest.raises(ConfigError, match="expected sqlite:///path"):
        open_store("redis://localhost")
