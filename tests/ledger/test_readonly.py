"""Analysts' queries cannot write to the ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from warden.core.errors import LedgerError, QueryLimitError, ReadOnlyQueryError
from warden.ledger.client import Ledger
from warden.ledger.readonly import QueryLimits, check_readonly, run_readonly
from warden.ledger_rows.tables import TABLES_BY_NAME


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


def control_row() -> list[list[object]]:
    """One control_changes row, column-oriented, as the sink inserts it."""
    table = TABLES_BY_NAME["control_changes"]
    values: dict[str, object] = {"kind": "kill", "scope": "tenant:acme", "active": True, "actor": "ops",
                                 "reason": "test", "at": datetime(2026, 3, 1, tzinfo=UTC), "record_id": "r1",
                                 "chain_key": "k", "chain_seq": 1, "hash": "h", "prev_hash": "p",
                                 "src_topic": "control", "src_partition": 0, "src_offset": 0}
    return [[values.get(c, "")] for c in table.insert_columns]


def test_a_refused_write_leaves_nothing_on_the_ledgers_own_connection(ledger: Ledger) -> None:
    """Issue 13: this was refused but left readonly=1 on the connection the sink inserts through."""
    table = TABLES_BY_NAME["control_changes"]
    sql = f"WITH 1 AS x INSERT INTO {ledger.database}.control_changes (kind) VALUES ('kill')"
    with pytest.raises(ReadOnlyQueryError, match="Cannot execute query in readonly mode"):
        run_readonly(ledger, sql)
    ledger.insert(table.name, table.insert_columns, control_row())  # the sink's next insert
    assert ledger.rows(f"SELECT kind, actor FROM {ledger.database}.control_changes") == [("kill", "ops")]


def test_a_query_past_a_limit_is_stopped_and_names_the_limit(ledger: Ledger) -> None:
    with pytest.raises(QueryLimitError, match=r"WARDEN_QUERY_MAX_ROWS_READ=1000000: Code: 158"):
        run_readonly(ledger, "SELECT count() FROM system.numbers", QueryLimits(max_rows_read=1_000_000))
    with pytest.raises(QueryLimitError, match=r"WARDEN_QUERY_MAX_RESULT_ROWS=10: Code: 396"):
        run_readonly(ledger, "SELECT number FROM system.numbers LIMIT 100", QueryLimits(max_result_rows=10))
    with pytest.raises(QueryLimitError, match=r"WARDEN_QUERY_MAX_EXECUTION_S=0.5: Code: 159"):
        run_readonly(ledger, "SELECT count() FROM system.numbers WHERE NOT ignore(sipHash64(number))",
                     QueryLimits(max_execution_s=0.5, max_rows_read=10**15))


def test_the_default_limits_stop_a_query_that_never_ends(ledger: Ledger) -> None:
    with pytest.raises(QueryLimitError, match="WARDEN_QUERY_MAX_"):
        run_readonly(ledger, "SELECT count() FROM system.numbers")


def test_a_query_cannot_lift_its_own_limits(ledger: Ledger) -> None:
    with pytest.raises(ReadOnlyQueryError, match="Cannot modify 'max_rows_to_read' setting in readonly mode"):
        run_readonly(ledger, "SELECT count() FROM system.numbers SETTINGS max_rows_to_read = 0",
                     QueryLimits(max_rows_read=1000))


@pytest.mark.parametrize(("sql", "reason"), [
    ("SELECT (1 +", "Syntax error"),
    ("SELECT * FROM {db}.no_such_table", "UNKNOWN_TABLE"),
    ("SELECT no_such_column FROM {db}.agent_events", "UNKNOWN_IDENTIFIER"),
])
def test_other_errors_show_clickhouses_reason_not_a_read_only_refusal(ledger: Ledger, sql: str, reason: str) -> None:
    with pytest.raises(LedgerError, match=reason) as err:
        run_readonly(ledger, sql.format(db=ledger.database))
    assert not isinstance(err.value, ReadOnlyQueryError), str(err.value)
    assert "read-only" not in str(err.value) and "readonly" not in str(err.value), str(err.value)
