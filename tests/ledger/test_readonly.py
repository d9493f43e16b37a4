"""Analysts' queries cannot write to the ledger."""

from __future__ import annotations

import pytest

from warden.core.errors import ReadOnlyQueryError
from warden.ledger.client import Ledger
from warden.ledger.readonly import check_readonly, run_readonly


@pytest.mark.parametrize("sql", [
    "INSERT INTO warden.agent_events (event_id) VALUES ('x')",
    "ALTER TABLE warden.agent_events DELETE WHERE 1",
    "  -- sneaky\n DROP TABLE warden.agent_events",
    "SELECT 1; DROP TABLE warden.agent_events",
    "SELECT * FROM warden.agent_events INTO OUTFILE '/tmp/ledger.csv'",
    "select 1 into\n  outfile 'x'",
    "SELECT '\necho pwned\n' INTO # c\nOUTFILE '/tmp/rc' APPEND",
    "# a comment\nINSERT INTO warden.agent_events (event_id) VALUES ('x')",
    "",
])
def test_write_and_multi_statements_are_refused_with_a_reason(sql: str) -> None:
    with pytest.raises(ReadOnlyQueryError) as err:
        check_readonly(sql)
    assert str(err.value)


def test_the_refusal_names_the_statement() -> None:
    with pytest.raises(ReadOnlyQueryError, match="INSERT is a write or admin statement"):
        check_readonly("insert into t values (1)")


def test_reads_run(ledger: Ledger) -> None:
    columns, rows = run_readonly(ledger, f"SELECT count() AS n FROM {ledger.database}.agent_events")
    assert (columns, rows) == (["n"], [(0,)])


def test_the_engine_refuses_writes_even_past_the_keyword_check(ledger: Ledger) -> None:
    with pytest.raises(ReadOnlyQueryError, match="read-only"):
        run_readonly(ledger, f"SELECT * FROM {ledger.database}.agent_events SETTINGS readonly = 0")


@pytest.mark.parametrize("source", ["file('/etc/hostname', 'LineAsString')", "url('http://127.0.0.1:9/', 'CSV')"])
def test_table_functions_that_reach_outside_the_ledger_are_refused(ledger: Ledger, source: str) -> None:
    with pytest.raises(ReadOnlyQueryError, match="read-only"):
        run_readonly(ledger, f"SELECT * FROM {source}")


def test_the_query_runs_as_written_not_as_stripped(ledger: Ledger) -> None:
    columns, rows = run_readonly(ledger, "SELECT 'a /* b' AS x, 'c */ d' AS y, '--' AS z")
    assert (columns, rows) == (["x", "y", "z"], [("a /* b", "c */ d", "--")])
