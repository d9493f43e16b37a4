"""The dashboards in dashboards/ are valid Grafana JSON for the ClickHouse plugin and cover the checklist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from warden.dashboards.model import (
    DASHBOARDS_DIR,
    DATASOURCE_TYPE,
    DATASOURCE_UID,
    FORMAT_TABLE,
    FORMAT_TIMESERIES,
    Dashboard,
    Panel,
    load_all,
)

ROOT = Path(__file__).resolve().parents[2]
BOARDS = load_all()
PANELS = [(b, p) for b in BOARDS for p in b.panels]
PLUGIN = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]["environment"][
    "GF_INSTALL_PLUGINS"].split()[1]
# Checklist section 4 and issue 5: what the dashboards must show, by panel title.
REQUIRED = {
    "run success rate": "Run success rate", "policy blocks": "Blocks by policy",
    "approval volume": "Approval requests and decisions", "time to decision": "Time to decision",
    "approval outcomes": "Approval outcomes", "tool error rates": "Tool error rate",
    "spend per tenant": "Spend per tenant", "spend per workflow": "Spend per workflow",
    "spend per route": "Spend per route", "cost per completed task": "Cost per completed task",
    "HITL share": "HITL share of runs", "alerts": "Latest alerts", "dead letters": "Dead letters",
    # issue 18 point 1, issues 11 and 12
    "violation rate": "Policy violation rate", "latency p95": "p95 run latency",
    "high-severity rate": "High-severity rate", "active kill switches": "Active kill switches",
    "ledger verify": "Ledger verification", "policy bundle in force": "Policy bundle in force",
    "rollout: release share": "Release share of runs", "rollout: gate metrics": "Task success rate by release",
    "rollout decisions": "Rollout decisions", "eval results": "Eval runs",
}


# Panels that show a state as of the range's end (set before the range, still in force), not events in it.
STATE_AT_END = {"Active kill switches", "Ledger verification"}
# Tables with neither tenant nor workflow: an unreadable record has none; verify checks the whole ledger.
WHOLE_LEDGER = ("dead_letters", "ledger_verifications")


def test_every_checklist_view_has_a_panel() -> None:
    titles = {p.title for _, p in PANELS}
    assert {what: title for what, title in REQUIRED.items() if title not in titles} == {}


def test_uids_and_panel_ids_are_unique() -> None:
    assert len({b.uid for b in BOARDS}) == len(BOARDS)
    for board in BOARDS:
        ids = [p["id"] for p in board.raw["panels"]]
        assert len(ids) == len(set(ids)), board.uid


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.uid)
def test_tenant_and_workflow_are_multi_value_variables_with_all(board: Dashboard) -> None:
    for name in ("tenant", "workflow"):
        variable = board.variable(name)
        assert variable.include_all and variable.multi, name
        raw = next(v for v in board.raw["templating"]["list"] if v["name"] == name)
        assert raw["datasource"] == {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
        assert raw["current"]["value"] == ["$__all"]


@pytest.mark.parametrize(("board", "panel"), PANELS, ids=[f"{b.uid}:{p.title}" for b, p in PANELS])
def test_every_panel_is_a_clickhouse_sql_query_bounded_by_the_time_range(board: Dashboard, panel: Panel) -> None:
    raw = next(p for p in board.raw["panels"] if p["id"] == panel.id)
    assert raw["datasource"] == {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
    for target in raw["targets"]:
        assert target["datasource"]["uid"] == DATASOURCE_UID
        assert target["editorType"] == "sql"
        assert target["pluginVersion"] == PLUGIN  # the version docker-compose installs
        expected = {FORMAT_TIMESERIES: "timeseries", FORMAT_TABLE: "table"}[target["format"]]
        assert target["queryType"] == expected
        assert (target["format"] == FORMAT_TIMESERIES) == (raw["type"] == "timeseries")
    if panel.title in STATE_AT_END:
        assert "<= $__toTime" in panel.sql, "a state panel shows the state at the end of the range"
    else:
        assert "$__timeFilter(" in panel.sql, "every panel reads only the dashboard's time range"
    assert panel.description, "say what the panel shows"
    if not any(f"warden.{t}" in panel.sql for t in WHOLE_LEDGER):
        assert "$tenant" in panel.sql and "$workflow" in panel.sql
    assert not re.search(r"\bFINAL\b|\bINSERT\b|\bALTER\b", panel.sql)


def test_files_are_plain_grafana_json_with_a_utc_default_range() -> None:
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        raw = json.loads(path.read_text())
        assert raw["schemaVersion"] >= 39 and raw["timezone"] == "utc"
        assert raw["time"] == {"from": "now-6h", "to": "now"}
        assert "id" not in raw or raw["id"] is None


def test_compose_provisioning_serves_these_dashboards_with_this_data_source() -> None:
    source = yaml.safe_load((ROOT / "infra/grafana/provisioning/datasources/clickhouse.yaml").read_text())
    assert source["datasources"][0]["uid"] == DATASOURCE_UID
    assert source["datasources"][0]["type"] == DATASOURCE_TYPE
    providers = yaml.safe_load((ROOT / "infra/grafana/provisioning/dashboards/warden.yaml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in compose["volumes"]}
    assert mounted[providers["providers"][0]["options"]["path"]] == "./" + DASHBOARDS_DIR.name
