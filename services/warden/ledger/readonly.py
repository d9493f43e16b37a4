"""Analysts' SQL is read-only: the ledger is append-only and queries never write.

Three guards: the statement must start with a reading keyword; the word OUTFILE may not appear
anywhere (``readonly=1`` still lets a SELECT write its result to a file, and a comment or a
string can hide the keyword from a parser this small, so the raw text is checked); and it runs
with ClickHouse's ``readonly=1`` and a time limit, so anything else that slips past is refused by
the engine and no query holds the ledger for long. The comment-stripped text is only used to
find the first keyword: the query runs as written.
"""

from __future__ import annotations

import re
from typing import Any

from warden.core.errors import ReadOnlyQueryError
from warden.ledger.client import Ledger

READING = {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS"}
_COMMENT = re.compile(r"(--[^\n]*\n?)|(#[^\n]*\n?)|(/\*.*?\*/)", re.S)
_WRITES_FILE = re.compile(r"OUTFILE", re.I)
QUERY_SETTINGS = {"readonly": 1, "max_execution_time": 60}


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


def run_readonly(ledger: Ledger, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    text = check_readonly(sql)
    try:
        result = ledger.query(text, settings=QUERY_SETTINGS)
    except Exception as exc:
        if "READONLY" in str(exc) or "readonly" in str(exc):
            raise ReadOnlyQueryError(f"refused by ClickHouse in read-only mode: {exc}") from exc
        raise
    return list(result.column_names), [tuple(row) for row in result.result_rows]
