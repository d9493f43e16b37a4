"""The durable outbox: every delivery owed to a receiver, until the receiver took it.

SQLite under the data dir, written before the alerts' offsets are committed, so an alert
read from the topic is never lost: a receiver that is down keeps its entries here (retried
with backoff), and a restart picks up whatever was still undelivered. The primary key
(record id, receiver) drops a record the topic hands over twice; delivered entries are kept
a while for exactly that.

An entry the receiver refused for good (a permanent 4xx) is parked with the reason: it no longer
holds up the entries behind it, and it is reported to the ledger as a dead letter (``reported_at``
once the broker has it). The ``firing`` table is what Alertmanager must be told again: the alerts
firing behind each label set, re-posted until resolved (warden.notifier.alertmanager).
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
CREATE TABLE IF NOT EXISTS firing (
    receiver TEXT NOT NULL,
    identity TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    alert TEXT NOT NULL,
    refreshed_at REAL NOT NULL,
    PRIMARY KEY (receiver, identity, alert_id)
);
"""
# Columns added after the first release: an older outbox file gets them on open.
_ADDED = {"parked_at": "REAL", "parked_reason": "TEXT", "reported_at": "REAL",
          "source_partition": "INTEGER NOT NULL DEFAULT -1", "source_offset": "INTEGER NOT NULL DEFAULT -1"}


@dataclass(frozen=True)
class Entry:
    seq: int
    record_id: str
    receiver: str
    payload: str
    attempts: int
    next_at: float
    source_partition: int = -1
    source_offset: int = -1
    parked_reason: str | None = None


_ENTRY = "seq, record_id, receiver, payload, attempts, next_at, source_partition, source_offset, parked_reason"

class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        for column, kind in _ADDED.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE outbox ADD COLUMN {column} {kind}")

    def enqueue(self, deliveries: list[Delivery], now: float) -> int:
        """All or nothing, durable on return; returns how many were new."""
        if not deliveries:
            return 0
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO outbox (record_id, receiver, payload, created_at, next_at, source_partition, "
                "source_offset) VALUES (?,?,?,?,?,?,?)",
                [(d.record_id, d.receiver, d.payload, now, now, d.source_partition, d.source_offset)
                 for d in deliveries])
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def head(self, receiver: str) -> Entry | None:
        """The oldest undelivered entry: a receiver gets its alerts in order (a resolve after its trigger)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ENTRY} FROM outbox WHERE receiver = ? AND delivered_at IS NULL AND parked_at IS NULL "
                "ORDER BY seq LIMIT 1", (receiver,)).fetchone()
        return Entry(*row) if row else None

    def delivered(self, seq: int, now: float, firing: tuple[str, str, str] | None = None,
                  resolved: tuple[str, str] | None = None) -> None:
        """Delivered; for Alertmanager, in the same transaction, ``firing`` (identity, alert_id, alert JSON)
        is now firing or ``resolved`` (identity, alert_id) no longer is."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE seq = ?", (now, seq))
            receiver = self._db.execute("SELECT receiver FROM outbox WHERE seq = ?", (seq,)).fetchone()
            if firing is not None and receiver:
                self._db.execute("INSERT OR REPLACE INTO firing VALUES (?,?,?,?,?)", (receiver[0], *firing, now))
            if resolved is not None and receiver:
                self._db.execute("DELETE FROM firing WHERE receiver = ? AND identity = ? AND alert_id = ?",
                                 (receiver[0], *resolved))
            self._db.execute("COMMIT")

    def park(self, seq: int, now: float, reason: str) -> None:
        """Refused for good: out of the receiver's queue, kept with the reason."""
        with self._lock:
            self._db.execute("UPDATE outbox SET parked_at = ?, parked_reason = ?, attempts = attempts + 1, "
                             "last_error = ? WHERE seq = ?", (now, reason[:2000], reason[:500], seq))

    def unreported(self, receiver: str, limit: int = 100) -> list[Entry]:
        """Parked entries whose dead letter the broker has not acknowledged yet."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_ENTRY} FROM outbox WHERE receiver = ? AND parked_at IS NOT NULL AND "
                                    "reported_at IS NULL ORDER BY seq LIMIT ?", (receiver, limit)).fetchall()
        return [Entry(*row) for row in rows]

    def reported(self, seqs: list[int], now: float) -> None:
        with self._lock:
            self._db.executemany("UPDATE outbox SET reported_at = ? WHERE seq = ?", [(now, s) for s in seqs])

    def parked(self, receiver: str | None = None, unreported: bool = False) -> int:
        return self._count("parked_at IS NOT NULL" + (" AND reported_at IS NULL" if unreported else ""), receiver)

    def _count(self, where: str, receiver: str | None) -> int:
        query = f"SELECT count(*) FROM outbox WHERE {where}" + ("" if receiver is None else " AND receiver = ?")
        args: tuple[str, ...] = () if receiver is None else (receiver,)
        with self._lock:
            return int(self._db.execute(query, args).fetchone()[0])

    def parked_entries(self, receiver: str) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_ENTRY} FROM outbox WHERE receiver = ? AND parked_at IS NOT NULL "
                                    "ORDER BY seq", (receiver,)).fetchall()
        return [Entry(*row) for row in rows]

    def firing(self, receiver: str, identity: str | None = None) -> list[tuple[str, str, str, float]]:
        """(identity, alert_id, alert JSON, refreshed_at) of what fires at ``receiver`` (behind ``identity``)."""
        query = "SELECT identity, alert_id, alert, refreshed_at FROM firing WHERE receiver = ?"
        args: tuple[str, ...] = (receiver,)
        if identity is not None:
            query += " AND identity = ?"
            args = (receiver, identity)
        with self._lock:
            return [(r[0], r[1], r[2], float(r[3])) for r in self._db.execute(query + " ORDER BY identity, alert_id",
                                                                              args)]

    def expire(self, receiver: str, expired: list[tuple[str, str]]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM firing WHERE receiver = ? AND identity = ? AND alert_id = ?",
                                 [(receiver, identity, alert_id) for identity, alert_id in expired])

    def failed(self, seq: int, next_at: float, error: str) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE seq = ?",
                             (next_at, error[:500], seq))

    def pending(self, receiver: str | None = None) -> int:
        return self._count("delivered_at IS NULL AND parked_at IS NULL", receiver)

    def prune(self, delivered_before: float) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM outbox WHERE (delivered_at IS NOT NULL AND delivered_at < ?) OR "
                                    "(reported_at IS NOT NULL AND parked_at < ?)",
                                    (delivered_before, delivered_before)).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
