"""The route panels of the spend dashboard on a ledger of routed runs: the same figures as `warden cost routes`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.cost.ledger_fixture import START, two_weeks
from tests.dashboards.helpers import run_sql
from warden.core.settings import WardenSettings
from warden.core.workflows import load_contracts
from warden.dashboards.build import dashboards
from warden.dashboards.macros import TimeRange
from warden.ledger import cost_report as report
from warden.ledger.client import Ledger
from warden.routing.policy import load_routing

PANELS = {p.title: p for b in dashboards() for p in b.panels}
WHEN = TimeRange(START, START + timedelta(days=14))


def test_route_panels_equal_the_routes_command(chdb_url: str, ledger: Ledger) -> None:
    two_weeks(ledger)
    _, table = run_sql(ledger, PANELS["Success and cost per successful task per route"].sql, WHEN)
    figures, _ = report.routes(WardenSettings(clickhouse_url=chdb_url, clickhouse_database=ledger.database),
                               WHEN.start, WHEN.end, load_routing(), load_contracts())
    by_key = {(f.workflow, f.route): f for f in figures}
    assert len(table) == len([f for f in figures if f.route != "*"]) >= 4
    for row in table:
        f = by_key[(row["workflow"], row["route"])]
        assert row["runs"] == f.runs
        assert row["success_rate"] == pytest.approx(f.success_rate, abs=1e-4)
        assert row["usd_per_success"] == pytest.approx(f.cost_per_success_usd, abs=1e-4)
        assert row["escalation_rate"] == pytest.approx(f.escalation_rate, abs=1e-4)
    _, rates = run_sql(ledger, PANELS["Escalation rate per workflow"].sql, WHEN)
    assert {r["workflow"]: r["escalation_rate"] for r in rates} == pytest.approx(
        {f.workflow: f.escalation_rate for f in figures if f.route == "*"})
