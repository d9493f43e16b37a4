"""Analysts' SQL is read-only, bounded, and runs apart from ingestion.

Three guards against writes: the statement must start with a reading keyword; the word OUTFILE
may not appear anywhere (``readonly=1`` still lets a SELECT write its result to a file, and a
comment or a string can hide the keyword from a parser this small, so the raw text is checked);
and it runs with ClickHouse's ``readonly=1``, so anything else that slips past is refused by the
engine. The comment-stripped text is only used to find the first keyword: the query runs as
written.

Each query gets a connection of its own (its own chDB handle or HTTP client), with ``readonly``
and the limits of QueryLimits set on that session before the query and the session closed after
it. So a refused statement leaves nothing behind on a connection anyone else uses (clickhouse-
connect applies per-call settings with SET and restores them afterwards, and a restore that
readonly=1 refuses used to leave the sink's connection read-only), the sink's inserts never
queue behind an analyst's query on one connection lock, and the query cannot lift its own limits
(readonly=1 refuses a SETTINGS clause). The query endpoint keeps such sessions open between queries
(``ReadonlySessions``): one serves one query at a time, and only a session whose query succeeded
serves another.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from warden.core.errors import LedgerError, QueryLimitError, ReadOnlyQueryError
from warden.core.settings import WardenSettings
from warden.ledger.client import Ledger

READING = {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS"}
_COMMENT = re.compile(r"(--[^\n]*\n?)|(#[^\n]*\n?)|(/\*.*?\*/)", re.S)
_WRITES_FILE = re.compile(r"OUTFILE", re.I)
_CODE = re.compile(r"Code: (\d+)")
REFUSED = {164: "READONLY", 497: "ACCESS_DENIED"}
LIMITS = {159: "query_max_execution_s", 158: "query_max_rows_read", 307: "query_max_bytes_read",
          396: "query_max_result_rows", 241: "query_max_memory_bytes"}  # ClickHouse error code -> our setting


@dataclass(frozen=True)
class QueryLimits:
    max_execution_s: float = 60.0
    max_rows_read: int = 2_000_000_000
    max_bytes_read: int = 20 * 2**30
    max_result_rows: int = 1_000_000
    max_result_bytes: int = 256 * 2**20
    max_memory_bytes: int = 2 * 2**30
    max_threads: int = 2

    @classmethod
    def from_settings(cls, settings: WardenSettings) -> QueryLimits:
        return cls(settings.query_max_execution_s, settings.query_max_rows_read, settings.query_max_bytes_read,
                   settings.query_max_result_rows, settings.query_max_result_bytes, settings.query_max_memory_bytes,
                   settings.query_max_threads)

    def session_settings(self) -> dict[str, Any]:
        """In the order they are SET: readonly last, since readonly=1 refuses any later SET."""
        return {"max_execution_time": self.max_execution_s, "timeout_overflow_mode": "throw",
                "max_rows_to_read": self.max_rows_read, "max_bytes_to_read": self.max_bytes_read,
                "read_overflow_mode": "throw", "max_result_rows": self.max_result_rows,
                "max_result_bytes": self.max_result_bytes, "result_overflow_mode": "throw",
                "max_memory_usage": self.max_memory_bytes, "max_threads": self.max_threads, "readonly": 1}

    def named(self, setting: str) -> str:
        """`query_max_rows_read` -> `WARDEN_QUERY_MAX_ROWS_READ=2000000000`: what to raise, and how."""
        value = getattr(self, setting.removeprefix("query_"))
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        return f"WARDEN_{setting.upper()}={shown}"


def check_readonly(sql: str) -> str:
    """The query to run (as written, without a trailing ';'), or ReadOnlyQueryError."""
    if _WRITES_FILE.search(sql):
        raise ReadOnlyQueryError("INTO OUTFILE writes a file on the ledger's machine; use --format csv or json "
                                 "and redirect the output instead (the word OUTFILE is refused anywhere)")
    text = _COMMENT.sub(" ", sql).strip().rstrip(";").strip()
    if not text:
        raise ReadOnlyQueryError("empty query: expected a SELECT (or WITH / SHOW / DESCRIBE / EXPLAIN)")
    if ";" in text:
        raise ReadOnlyQueryError("one statement at a time: found ';' inside the query")
    first = text.lstrip("(").split(None, 1)[0].upper()
    if first not in READING:
        raise ReadOnlyQueryError(
            f"{first} is a write or admin statement; the ledger is append-only and queries are read-only "
            f"(allowed: {', '.join(sorted(READING))})"
        )
    return sql.strip().rstrip(";").strip()


def clickhouse_reason(exc: BaseException) -> str:
    """ClickHouse's own message (from "Code: N." on), without our wrapping or the statement."""
    cause = exc.__cause__ or exc
    text = str(cause)
    start = text.find("Code: ")
    return (text[start:] if start >= 0 else text).split("\n  query: ")[0].strip()


def classify(exc: LedgerError, limits: QueryLimits) -> LedgerError:
    """The error to show for a failed analyst query: ClickHouse's reason, and which guard it was."""
    reason = clickhouse_reason(exc)
    found = _CODE.search(reason)
    code = int(found.group(1)) if found else None
    if code in REFUSED:
        return ReadOnlyQueryError(f"refused by ClickHouse (queries are read-only): {reason}")
    if code in LIMITS:
        return QueryLimitError(f"stopped by the analyst query limit {limits.named(LIMITS[code])}: {reason}")
    return LedgerError(f"query failed: {reason}")


Rows = list[tuple[Any, ...]]


def run_readonly(ledger: Ledger, sql: str, limits: QueryLimits | None = None) -> tuple[list[str], Rows]:
    """Run on a session of its own (see the module docstring); `ledger` itself is never queried."""
    text = check_readonly(sql)
    limits = limits or QueryLimits()
    try:
        with ledger.session(limits.session_settings()) as session:
            result = session.query(text)
            return list(result.column_names), [tuple(row) for row in result.result_rows]
    except LedgerError as exc:
        raise classify(exc, limits) from exc


class ReadonlySessions:
    """Read-only sessions kept open for the next query: opening one costs 12-17 ms of CPU (clickhouse-connect
    reads the engine's settings), a count() on an open one about 1 ms, and dashboards and `warden query` poll
    the endpoint of the process that also lands every event. A session goes back to the pool only after its
    query succeeded: readonly=1 refuses SET, a SETTINGS clause and (check_readonly) USE, so a successful
    query leaves it as it was opened; a failed one is closed, as run_readonly would."""

    def __init__(self, ledger: Ledger, limits: QueryLimits | None = None, keep: int = 4) -> None:
        self.ledger, self.limits, self.keep = ledger, limits or QueryLimits(), keep
        self._idle: list[Ledger] = []
        self._lock = threading.Lock()
        self.opened = 0  # sessions opened so far

    def run(self, sql: str) -> tuple[list[str], Rows]:
        text = check_readonly(sql)
        with self._lock:
            session = self._idle.pop() if self._idle else None
        try:
            if session is None:
                session = self.ledger.session(self.limits.session_settings())
                with self._lock:
                    self.opened += 1
            result = session.query(text)
            found = list(result.column_names), [tuple(row) for row in result.result_rows]
        except BaseException as exc:
            if session is not None:
                session.close()
            if isinstance(exc, LedgerError):
                raise classify(exc, self.limits) from exc
            raise
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(session)
                session = None
        if session is not None:
            session.close()
        return found

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for session in idle:
            session.close()
