"""The report's colours as a browser shows them: a missed target red, a narrow miss amber, a met one
green, the target printed beside the value; wide tables wrap instead of scrolling sideways."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.report.browser import Browser
from warden.dashboards.build import Sources
from warden.dashboards.macros import TimeRange
from warden.dashboards.model import Dashboard, Panel, Target
from warden.report.data import DashboardResult, PanelResult
from warden.report.page import render_page, write

WHEN = TimeRange(datetime(2026, 11, 2, 8, 0, tzinfo=UTC), datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
SOURCES = Sources.load()
RGB = {"green": "rgb(26, 127, 55)", "amber": "rgb(179, 92, 0)", "red": "rgb(196, 22, 42)"}
STATS_JS = """Array.from(document.querySelectorAll('figure.panel')).map(f => {
    const v = f.querySelector('.stat'), t = f.querySelector('.target-text'), w = f.querySelector('.table-wrap');
    return {title: f.dataset.panel, colour: v && getComputedStyle(v).color, text: v && v.textContent,
            target: t && t.textContent, wraps: w ? w.scrollWidth <= w.clientWidth : null};
})"""


def stat(pid: int, title: str, metric: str, unit: str, value: float) -> PanelResult:
    panel = Panel(pid, title, "stat", title, unit, (Target("A", "SELECT 1", 1),), SOURCES.goal(metric, unit))
    return PanelResult(panel, "", [metric], [[value]])


def test_missed_narrowly_missed_and_met_targets_in_chromium(tmp_path: Path) -> None:
    wide = Panel(9, "wide", "table", "a table wider than the page", "", (Target("A", "SELECT 1", 1),))
    long_text = "kill switch workflow:refund_ticket set by warden:stop-ship: " + "deletes-denied-v1 " * 30
    results = [
        stat(1, "violation missed", "violation_rate", "percentunit", 0.732),  # the demo's 73.2% of issue 18
        stat(2, "success met", "task_success_rate", "percentunit", 0.93),
        stat(3, "success narrowly missed", "task_success_rate", "percentunit", 0.884),
        stat(4, "cost missed", "cost_per_task_usd", "currencyUSD", 0.134),
        stat(5, "cost at the target", "cost_per_task_usd", "currencyUSD", 0.10),
        PanelResult(wide, "", [f"column_{i}" for i in range(10)],
                    [[long_text, "2026-11-02T08:00:00.123000Z", "run-" + "9" * 40] + [f"value-{i}" for i in range(7)]]),
    ]
    board = Dashboard("b", "Board", "", Path("b.json"), (), tuple(r.panel for r in results), {})
    page = write(tmp_path / "report.html", render_page([DashboardResult(board, {}, results)], WHEN, "chdb:///x"))
    with Browser(width=1200) as browser:
        browser.open(page.as_uri())
        found = {p["title"]: p for p in browser.evaluate(STATS_JS)}
        assert browser.console_errors() == []
    assert found["violation missed"]["colour"] == RGB["red"]
    assert found["violation missed"]["text"] == "73.2%" and found["violation missed"]["target"] == "target ≤ 2%: missed"
    assert found["success met"]["colour"] == RGB["green"] and found["success met"]["target"] == "target ≥ 90%: met"
    assert found["success narrowly missed"]["colour"] == RGB["amber"]
    assert found["cost missed"]["colour"] == RGB["red"] and found["cost missed"]["target"] == "target ≤ $0.10: missed"
    assert found["cost at the target"]["colour"] == RGB["green"]  # a maximum is met at the target
    assert found["wide"]["wraps"] is True  # a long value wraps instead of widening the table


@pytest.mark.parametrize(("metric", "unit", "value", "colour"), [
    ("task_success_rate", "percentunit", 0.9, "green"), ("task_success_rate", "percentunit", 0.8999, "amber"),
    ("task_success_rate", "percentunit", 0.81, "amber"), ("task_success_rate", "percentunit", 0.8099, "red"),
    ("violation_rate", "percentunit", 0.02, "green"), ("violation_rate", "percentunit", 0.0201, "amber"),
    ("violation_rate", "percentunit", 0.022, "amber"), ("violation_rate", "percentunit", 0.0221, "red"),
    ("hitl_share", "percentunit", 0.034, "red"), ("hitl_share", "percentunit", 0.075, "green"),
    ("hitl_share", "percentunit", 0.105, "amber"), ("latency_p95_s", "s", 20.0, "green"),
])
def test_green_is_exactly_a_met_target(metric: str, unit: str, value: float, colour: str) -> None:
    goal = SOURCES.goal(metric, unit)
    assert goal is not None
    assert goal.colour(value) == colour
    assert (colour == "green") == goal.met(value)
