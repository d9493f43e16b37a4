"""Analysts' SQL is read-only: the ledger is append-only and queries never write.

Two guards: the statement must start with a reading keyword, and it runs with ClickHouse's
``readonly=1`` so anything that slips past the first check is refused by the engine.
"""

from __future__ import annotations

import re
from typing import Any

from warden.core.errors import ReadOnlyQueryError
from warden.ledger.client import Ledger

READING = {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS"}
_COMMENT = re.compile(r"(--[^\n]*\n?)|(/\*.*?\*/)", re.S)
# readonly=1 still lets a SELECT write its result to a file on the ledger's machine.
_WRITES_FILE = re.compile(r"\bINTO\s+OUTFILE\b", re.I)


def check_readonly(sql: str) -> str:
    text = _COMMENT.sub(" ", sql).strip().rstrip(";").strip()
    if not text:
        raise ReadOnlyQueryError("empty query: expected a SELECT (or WITH / SHOW / DESCRIBE / EXPLAIN)")
    if ";" in text:
        raise ReadOnlyQueryError("one statement at a time: found ';' inside the query")
    if _WRITES_FILE.search(text):
        raise ReadOnlyQueryError("INTO OUTFILE writes a file on the ledger's machine; use --format csv or json "
                                 "and redirect the output instead")
    first = text.lstrip("(").split(None, 1)[0].upper()
    if first not in READING:
        raise ReadOnlyQueryError(
            f"{first} is a write or admin statement; the ledger is append-only and queries are read-only "
            f"(allowed: {', '.join(sorted(READING))})"
        )
    return text


def run_readonly(ledger: Ledger, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    text = check_readonly(sql)
    try:
        result = ledger.query(text, settings={"readonly": 1})
    except Exception as exc:
        if "READONLY" in str(exc) or "readonly" in str(exc):
            raise ReadOnlyQueryError(f"refused by ClickHouse in read-only mode: {exc}") from exc
        raise
    return list(result.column_names), [tuple(row) for row in result.result_rows]
