"""The report's weekly cost-per-outcome section: what the cost-regression ticket points at."""

from __future__ import annotations

from datetime import timedelta

from tests.cost.ledger_fixture import START, two_weeks
from warden.core.settings import WardenSettings
from warden.cost.tracker import BREAKDOWN
from warden.dashboards.macros import TimeRange
from warden.ledger.client import Ledger
from warden.report.page import render_page
from warden.report.weekly import TITLE, weekly_section


def test_the_section_shows_each_rise_and_its_drivers(chdb_url: str, ledger: Ledger) -> None:
    two_weeks(ledger)
    settings = WardenSettings(clickhouse_url=chdb_url, clickhouse_database=ledger.database)
    html = weekly_section(settings, START + timedelta(days=14, hours=1))
    assert f"<h2>{TITLE}</h2>" in html and TITLE in BREAKDOWN
    assert 'data-weekly="rise refund_ticket"' in html and "tokens per run" in html and "SDK cache hit rate" in html
    page = render_page([], TimeRange(START, START + timedelta(days=14)), "chdb", extra=[html])
    assert page.index('data-section="weekly-cost"') < page.index("</main>")
    assert "<figure" not in html  # the report's figures are the dashboards' panels (tests/report counts them)


def test_an_unreadable_ledger_is_said_in_the_section(chdb_url: str, ledger: Ledger) -> None:
    settings = WardenSettings(clickhouse_url=chdb_url, clickhouse_database="no_such_db")
    html = weekly_section(settings, START)
    assert "could not be read" in html and f"<h2>{TITLE}</h2>" in html
