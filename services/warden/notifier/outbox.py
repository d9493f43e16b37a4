"""The durable outbox: every delivery owed to a receiver, until the receiver took it.

SQLite under the data dir, written before the alerts' offsets are committed, so an alert
read from the topic is never lost: a receiver that is down keeps its entries here (retried
with backoff), and a restart picks up whatever was still undelivered. The primary key
(record id, receiver) drops a record the topic hands over twice; delivered entries are kept
a while for exactly that.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from warden.notifier.processor import Delivery

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    receiver TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT,
    UNIQUE (record_id, receiver)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (receiver, delivered_at, seq);
"""


@dataclass(frozen=True)
class Entry:
    seq: int
    record_id: str
    receiver: str
    payload: str
    attempts: int
    next_at: float


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def enqueue(self, deliveries: list[Delivery], now: float) -> int:
        """All or nothing, durable on return; returns how many were new."""
        if not deliveries:
            return 0
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO outbox (record_id, receiver, payload, created_at, next_at) VALUES (?,?,?,?,?)",
                [(d.record_id, d.receiver, d.payload, now, now) for d in deliveries])
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def head(self, receiver: str) -> Entry | None:
        """The oldest undelivered entry: a receiver gets its alerts in order (a resolve after its trigger)."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, record_id, receiver, payload, attempts, next_at FROM outbox "
                "WHERE receiver = ? AND delivered_at IS NULL ORDER BY seq LIMIT 1", (receiver,)).fetchone()
        return Entry(*row) if row else None

    def delivered(self, seq: int, now: float) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE seq = ?", (now, seq))

    def failed(self, seq: int, next_at: float, error: str) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE seq = ?",
                             (next_at, error[:500], seq))

    def pending(self, receiver: str | None = None) -> int:
        query = "SELECT count(*) FROM outbox WHERE delivered_at IS NULL"
        args: tuple[str, ...] = ()
        if receiver is not None:
            query += " AND receiver = ?"
            args = (receiver,)
        with self._lock:
            return int(self._db.execute(query, args).fetchone()[0])

    def prune(self, delivered_before: float) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?",
                                    (delivered_before,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
