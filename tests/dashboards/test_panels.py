"""Every panel's SQL, substituted as Grafana would (tenant and workflow "All", the demo's time range),
runs against the demo's ledger and returns rows.

The demo data comes from `warden demo` itself (tests/demo_stack.py): the simulator, every service of
the stack and the demo approver, landed by the ledger-sink into chDB.
"""

from __future__ import annotations

import time

import pytest

from tests.demo_stack import DemoLedger
from warden.dashboards.macros import TimeRange, render
from warden.dashboards.model import Dashboard, Panel, load_all
from warden.ledger import access
from warden.report.data import DashboardResult, PanelResult, collect, data_range

pytestmark = pytest.mark.integration
BOARDS = load_all()
PANELS = [(b, p) for b in BOARDS for p in b.panels]
SETTLE_S = 45.0  # services that roll up or alert on event time may land their records after the demo's events


@pytest.fixture(scope="module")
def results(demo_ledger: DemoLedger) -> dict[tuple[str, int], PanelResult]:
    deadline = time.monotonic() + SETTLE_S
    while True:
        found: list[DashboardResult] = collect(demo_ledger.settings, BOARDS, data_range(demo_ledger.settings))
        by_panel = {(r.dashboard.uid, p.panel.id): p for r in found for p in r.panels}
        if all(p.has_data for p in by_panel.values()) or time.monotonic() > deadline:
            return by_panel
        time.sleep(3)


@pytest.mark.parametrize(("board", "panel"), PANELS, ids=[f"{b.uid}:{p.title}" for b, p in PANELS])
def test_panel_returns_rows_on_demo_data(results: dict[tuple[str, int], PanelResult], board: Dashboard,
                                         panel: Panel) -> None:
    result = results[(board.uid, panel.id)]
    assert result.error is None, result.error
    assert result.rows, f"no rows; SQL as Grafana sends it:\n{result.sql}"
    assert result.has_data, f"only NULLs ({result.columns}: {result.rows}); SQL:\n{result.sql}"


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.uid)
def test_variables_list_the_demo_tenants_and_workflows(demo_ledger: DemoLedger, board: Dashboard) -> None:
    when = data_range(demo_ledger.settings)
    tenants = [r[0] for r in access.query(demo_ledger.settings, render(board.variable("tenant").sql, when))[1]]
    assert tenants == ["acme", "globex", "initech"]
    sql = render(board.variable("workflow").sql, when, {"tenant": ["acme"]}, {"tenant": tenants})
    workflows = [r[0] for r in access.query(demo_ledger.settings, sql)[1]]
    assert workflows == ["export_report", "provision_access", "refund_ticket", "triage_ticket"]


def _count(demo: DemoLedger, panel: Panel, when: TimeRange, selection: dict[str, list[str]]) -> int:
    options = {"tenant": ["acme", "globex", "initech"],
               "workflow": ["export_report", "provision_access", "refund_ticket", "triage_ticket"]}
    _, rows = access.query(demo.settings, render(panel.sql, when, selection, options))
    return sum(int(r[-1]) for r in rows)


@pytest.mark.parametrize("title", ["Run outcomes", "Policy decisions", "Approval requests and decisions"])
def test_choosing_a_tenant_or_a_workflow_narrows_the_panel(demo_ledger: DemoLedger, title: str) -> None:
    board = next(b for b in BOARDS if any(p.title == title for p in b.panels))
    panel = next(p for p in board.panels if p.title == title)
    when = data_range(demo_ledger.settings)
    everything = _count(demo_ledger, panel, when, {})
    tenants = sum(_count(demo_ledger, panel, when, {"tenant": [t]}) for t in ("acme", "globex", "initech"))
    one_workflow = _count(demo_ledger, panel, when, {"workflow": ["refund_ticket"]})
    assert everything > 0
    assert tenants == everything  # the tenants partition the runs
    assert 0 < one_workflow < everything
