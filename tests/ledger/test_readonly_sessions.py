"""The query endpoint's pool of read-only sessions: reused after a query that succeeded, never after one
that failed, and as guarded on its hundredth query as on its first."""

from __future__ import annotations

import pytest

from warden.core.errors import QueryLimitError, ReadOnlyQueryError
from warden.ledger.client import Ledger
from warden.ledger.readonly import QueryLimits, ReadonlySessions


def test_a_session_serves_the_next_query_after_one_that_succeeded(ledger: Ledger) -> None:
    sessions = ReadonlySessions(ledger)
    for _ in range(5):
        assert sessions.run(f"SELECT count() AS n FROM {ledger.database}.agent_events") == (["n"], [(0,)])
    assert sessions.opened == 1
    sessions.close()


def test_a_failed_query_closes_its_session_and_the_next_one_is_still_read_only(ledger: Ledger) -> None:
    sessions = ReadonlySessions(ledger, QueryLimits(max_rows_read=1000))
    sessions.run("SELECT 1")
    with pytest.raises(ReadOnlyQueryError, match="Cannot modify 'max_rows_to_read' setting in readonly mode"):
        sessions.run("SELECT count() FROM system.numbers SETTINGS max_rows_to_read = 0")
    with pytest.raises(ReadOnlyQueryError, match="Cannot execute query in readonly mode"):
        sessions.run(f"WITH 1 AS x INSERT INTO {ledger.database}.control_changes (kind) VALUES ('kill')")
    with pytest.raises(QueryLimitError, match="WARDEN_QUERY_MAX_ROWS_READ=1000"):
        sessions.run("SELECT count() FROM system.numbers")
    assert sessions.run("SELECT 2 AS x") == (["x"], [(2,)])
    assert sessions.opened == 4  # the first, then one after each of the three failures
    sessions.close()


def test_limits_hold_on_a_reused_session(ledger: Ledger) -> None:
    sessions = ReadonlySessions(ledger, QueryLimits(max_result_rows=10))
    for _ in range(3):
        sessions.run("SELECT number FROM system.numbers LIMIT 5")
    with pytest.raises(QueryLimitError, match="WARDEN_QUERY_MAX_RESULT_ROWS=10"):
        sessions.run("SELECT number FROM system.numbers LIMIT 100")
    assert sessions.opened == 1
    sessions.close()
