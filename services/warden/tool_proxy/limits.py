"""Token buckets and token revocations: in the process, or shared by replicas through one SQLite file.

Without a shared store each replica keeps its own buckets and revocations (limits then hold
per process: N replicas allow up to N times the rate, and a revocation reaches the replica
that received it). With ``sqlite:///path`` every replica on the host takes from the same
buckets: each take is one ``BEGIN IMMEDIATE`` transaction (SQLite's file lock serialises the
replicas) over every bucket of the call, so a call takes from all its buckets or from none.
Times are wall-clock seconds passed in by the caller, so replicas agree and tests need no clock.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from warden.core.errors import ConfigError, WardenError
from warden.tool_proxy.inventory import Limit


class StoreUnavailableError(WardenError):
    """The shared store failed (locked past its busy timeout, disk full, file gone): the call is refused."""


@dataclass(frozen=True)
class Bucket:
    key: str  # e.g. tenant:acme:payments, tool:payments, run:acme/r-1:payments
    limit: Limit

    def refill(self, tokens: float, updated: float, now: float) -> float:
        return min(self.limit.burst, tokens + max(0.0, now - updated) * self.limit.rate_per_s)

    def wait_for_one(self, tokens: float) -> float:
        """Seconds until one token is there again."""
        return max(0.0, (1.0 - tokens) / self.limit.rate_per_s)


@dataclass(frozen=True)
class Taken:
    ok: bool
    retry_after_s: float = 0.0
    bucket: str | None = None  # the bucket that refused

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after_s)))


class Store(Protocol):
    mode: str  # "memory" (per process) or the shared store's URL, for /health
    blocking: bool  # may wait (a lock, the disk): called off the event loop

    def take(self, buckets: list[Bucket], now: float) -> Taken: ...
    def revoke(self, key: str, until: float, now: float) -> None: ...
    def revoked(self, keys: list[str], now: float) -> bool: ...
    def close(self) -> None: ...


def _decide(buckets: list[Bucket], levels: list[float]) -> Taken:
    short = [(b.wait_for_one(t), b.key) for b, t in zip(buckets, levels, strict=True) if t < 1.0]
    if short:
        wait, key = max(short)
        return Taken(False, wait, key)
    return Taken(True)


class MemoryStore:
    """Per process; bounded (least recently used buckets are forgotten, i.e. refilled)."""

    mode = "memory"
    blocking = False  # a dict under a lock held for microseconds: a thread hop would cost more than the call

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self, buckets: list[Bucket], now: float) -> Taken:
        with self._lock:
            levels = []
            for bucket in buckets:
                tokens, updated = self._buckets.get(bucket.key, (bucket.limit.burst, now))
                levels.append(bucket.refill(tokens, updated, now))
            taken = _decide(buckets, levels)
            for bucket, level in zip(buckets, levels, strict=True):
                self._buckets[bucket.key] = (level - 1.0 if taken.ok else level, now)
                self._buckets.move_to_end(bucket.key)
            while len(self._buckets) > self.capacity:
                self._buckets.popitem(last=False)
            return taken

    def revoke(self, key: str, until: float, now: float) -> None:
        with self._lock:
            self._revoked = {k: u for k, u in self._revoked.items() if u > now}
            self._revoked[key] = max(until, self._revoked.get(key, 0.0))

    def revoked(self, keys: list[str], now: float) -> bool:
        return any(self._revoked.get(k, 0.0) > now for k in keys)

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS revoked (key TEXT PRIMARY KEY, until REAL NOT NULL);
"""


class SqliteStore:
    """Shared by every replica that opens the same file (one host; SQLite locks the file)."""

    blocking = True  # BEGIN IMMEDIATE waits for the file lock up to the busy timeout

    def __init__(self, path: Path, busy_timeout_s: float = 5.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.mode = f"sqlite://{path}"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints: buckets are soft state
        self._db.executescript(_SCHEMA)
        self._takes = 0

    def take(self, buckets: list[Bucket], now: float) -> Taken:
        try:
            return self._take(buckets, now)
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"shared store {self.path}: rate limit buckets not taken: {exc}") from exc

    def _take(self, buckets: list[Bucket], now: float) -> Taken:
        keys = [b.key for b in buckets]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                marks = ",".join("?" * len(keys))
                found = {k: (t, u) for k, t, u in self._db.execute(
                    f"SELECT key, tokens, updated FROM buckets WHERE key IN ({marks})", keys)}
                levels = [b.refill(*found.get(b.key, (b.limit.burst, now)), now) for b in buckets]
                taken = _decide(buckets, levels)
                self._db.executemany(
                    "INSERT INTO buckets(key, tokens, updated) VALUES (?, ?, ?) ON CONFLICT(key) "
                    "DO UPDATE SET tokens = excluded.tokens, updated = excluded.updated",
                    [(b.key, level - 1.0 if taken.ok else level, now)
                     for b, level in zip(buckets, levels, strict=True)])
                self._takes += 1
                if self._takes % 10_000 == 0:  # idle buckets are full again: forget them
                    self._db.execute("DELETE FROM buckets WHERE updated < ?", (now - 3600,))
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return taken

    def revoke(self, key: str, until: float, now: float) -> None:
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute("DELETE FROM revoked WHERE until <= ?", (now,))
                    self._db.execute("INSERT INTO revoked(key, until) VALUES (?, ?) ON CONFLICT(key) "
                                     "DO UPDATE SET until = max(until, excluded.until)", (key, until))
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"shared store {self.path}: revocation of {key} not stored: {exc}") from exc

    def revoked(self, keys: list[str], now: float) -> bool:
        marks = ",".join("?" * len(keys))
        try:
            with self._lock:
                row = self._db.execute(f"SELECT 1 FROM revoked WHERE key IN ({marks}) AND until > ? LIMIT 1",
                                       [*keys, now]).fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"shared store {self.path}: revocations not readable: {exc}") from exc
        return row is not None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_store(url: str | None) -> Store:
    """None: per process. ``sqlite:///abs/path`` or ``sqlite://rel/path``: shared by replicas on this host."""
    if not url:
        return MemoryStore()
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        if not path:
            raise ConfigError("WARDEN_PROXY_SHARED_STORE: sqlite:// needs a file path, e.g. sqlite:///var/lib/warden/proxy.db")
        return SqliteStore(Path(path))
    raise ConfigError(f"WARDEN_PROXY_SHARED_STORE: expected sqlite:///path (or unset for per-process limits), "
                      f"got {url!r}")
