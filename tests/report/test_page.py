"""The report page from panel results, without a ledger: every chart type draws its data, escapes it,
and says plainly when a panel has none."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from warden.dashboards.macros import TimeRange
from warden.dashboards.model import Dashboard, Panel, Target
from warden.report.charts import fmt
from warden.report.data import DashboardResult, PanelResult, plain
from warden.report.page import render_page

WHEN = TimeRange(datetime(2026, 11, 2, 8, 0, tzinfo=UTC), datetime(2026, 11, 2, 9, 0, tzinfo=UTC))


def panel(kind: str, title: str, unit: str = "") -> Panel:
    return Panel(1, title, kind, f"about {title}", unit, (Target("A", "SELECT 1", 1),))


def page(*results: PanelResult) -> str:
    board = Dashboard("b", "Board", "", Path("b.json"), (), tuple(r.panel for r in results), {})
    return render_page([DashboardResult(board, {"tenant": ["acme"]}, list(results))], WHEN, "chdb:///x")


def figure(html: str, title: str) -> str:
    found = re.search(rf'<figure[^>]*data-panel="{re.escape(title)}".*?</figure>', html, re.S)
    assert found, title
    return found.group(0)


def test_each_chart_type_draws_one_mark_per_datum() -> None:
    html = page(
        PanelResult(panel("timeseries", "ts"), "", ["time", "status", "runs"],
                    [["2026-11-02T08:00:00Z", "ok", 3], ["2026-11-02T08:05:00Z", "ok", 4],
                     ["2026-11-02T08:00:00Z", "failed", 1]]),
        PanelResult(panel("barchart", "bars", "percentunit"), "", ["tool", "error_rate"], [["crm", 0.1], ["iam", 0.2]]),
        PanelResult(panel("piechart", "pie"), "", ["outcome", "calls"], [["approved", 3], ["expired", 1]]),
        PanelResult(panel("stat", "stat", "currencyUSD"), "", ["spend"], [[12.5]]),
        PanelResult(panel("table", "table"), "", ["a", "b"], [["x", 1], ["y", 2], ["z", 3]]),
    )
    for title, marks in (("ts", 3), ("bars", 2), ("pie", 2), ("stat", 1), ("table", 3)):
        block = figure(html, title)
        assert len(re.findall(r'class="[^"]*\bmark\b', block)) == marks, title
        assert 'data-has-data="true"' in block
    assert "$12.50" in figure(html, "stat") and "20.0%" in figure(html, "bars")
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_no_rows_a_null_stat_and_a_failed_query_are_shown_as_such() -> None:
    html = page(PanelResult(panel("timeseries", "empty"), "", ["time", "n"], []),
                PanelResult(panel("stat", "null"), "", ["rate"], [[None]]),
                PanelResult(panel("barchart", "broken"), "", error="ledger query failed: Code: 47"))
    assert "no data in this range" in figure(html, "empty")
    assert 'data-has-data="false"' in figure(html, "null") and "no data in this range" in figure(html, "null")
    assert "query failed: ledger query failed: Code: 47" in figure(html, "broken")
    assert "0 of 3 panels with data" in html


def test_values_from_the_ledger_are_escaped() -> None:
    hostile = '<img src=x onerror="alert(1)">'
    html = page(PanelResult(panel("table", "alerts"), "", ["summary"], [[hostile]]),
                PanelResult(panel("barchart", "bars"), "", ["tool", "n"], [[hostile, 1]]))
    assert hostile not in html and "&lt;img src=x" in html


def test_values_become_plain_json_types_and_units_format() -> None:
    assert plain(datetime(2026, 11, 2, 8, 0)) == "2026-11-02T08:00:00Z"
    assert plain(float("nan")) is None
    assert fmt(0.1234, "percentunit") == "12.3%" and fmt(0.0512, "currencyUSD") == "$0.0512"
    assert fmt(3.0) == "3" and fmt(None) == "∅" and fmt(12.34, "s") == "12.3 s"
