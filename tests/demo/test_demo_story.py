"""What `warden demo` tells, read from the session's demo (tests/demo_stack.py: one real run of the whole
stack) and its ledger: the two rollouts, the one stop-ship and its revive, real approval decisions, and
output that a log file shows whole."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.demo_stack import DemoLedger
from warden.demo import story
from warden.demo.approver import APPROVER
from warden.ledger import access

pytestmark = pytest.mark.integration


def rows(demo: DemoLedger, sql: str) -> list[list[Any]]:
    return [list(r) for r in access.query(demo.settings, sql)[1]]


def text(demo: DemoLedger) -> str:
    return "".join(demo.output)


def test_one_candidate_rolls_back_on_the_cost_gate_at_5_and_the_other_is_approved_to_100(
        demo_ledger: DemoLedger) -> None:
    decided = rows(demo_ledger, "SELECT workflow, decision, step, next_step, failed_gates, coalesce(actor, '') "
                                "FROM warden.rollout_decisions WHERE decision != 'hold' ORDER BY workflow, decided_at")
    assert [r[:4] for r in decided if r[0] == story.COST_ROLLOUT] == [
        [story.COST_ROLLOUT, "start", 0, 5], [story.COST_ROLLOUT, "rollback", 5, 0]]
    assert [r[4] for r in decided if r[1] == "rollback"] == [["cost_increase_vs_baseline"]]
    assert [r[:4] for r in decided if r[0] == story.PROMOTED_ROLLOUT] == [
        [story.PROMOTED_ROLLOUT, "start", 0, 5], [story.PROMOTED_ROLLOUT, "promote", 5, 25],
        [story.PROMOTED_ROLLOUT, "complete", 25, 100]]
    complete = next(r for r in decided if r[1] == "complete")
    assert complete[5] == APPROVER  # 25 -> 100 waited for the approver, through the approvals service
    pages = rows(demo_ledger, "SELECT labels['gate'], severity, kind FROM warden.alerts "
                              "WHERE rule = 'rollout_rollback'")
    assert pages and all(p == ["cost_increase_vs_baseline", "page", "cost_spike"] for p in pages)
    approved = rows(demo_ledger, "SELECT approver, toString(decision), rationale FROM warden.approvals "
                                 "WHERE run_id LIKE 'rollout:%'")
    assert [r[:2] for r in approved] == [[APPROVER, "approved"]] and "gates pass" in str(approved[0][2])
    # release_for assigned the runs: both candidates ran, the promoted one for every user at the end
    releases = dict((f"{r[0]}/{r[1]}", r[2]) for r in rows(demo_ledger, (
        "SELECT workflow, coalesce(release, 'v3'), count() FROM warden.agent_events WHERE event_type = "
        "'run_started' AND workflow IN ('refund_ticket', 'export_report') GROUP BY ALL")))
    assert releases["refund_ticket/v4"] >= 10 and releases["export_report/v4"] > 200
    out = text(demo_ledger)
    assert "rolled back at 5%: cost_increase_vs_baseline" in out and "Rollouts: the controller's decisions" in out


def test_stop_ship_trips_once_an_operator_revives_and_the_workflow_runs_again(demo_ledger: DemoLedger) -> None:
    changes = rows(demo_ledger, "SELECT scope, active, actor FROM warden.control_changes "
                                "WHERE scope NOT LIKE 'tool:rollout:%' ORDER BY at")
    assert changes == [["workflow:triage_ticket", True, "warden:stop-ship"],
                       ["tool:crm.delete_record", True, story.OPERATOR],
                       ["workflow:triage_ticket", False, story.OPERATOR]]
    denied = rows(demo_ledger, "SELECT countIf(decision = 'deny'), count() FROM warden.policy_decisions")[0]
    assert 1 <= int(denied[0]) <= 3 and int(denied[1]) > 5000  # governing, not switching everything off
    incident = re.search(r"stop-ship: run (\S+) \(triage_ticket", text(demo_ledger))
    assert incident, text(demo_ledger)[-3000:]
    after = rows(demo_ledger, (
        "SELECT count() FROM warden.agent_events WHERE workflow = 'triage_ticket' AND event_type = 'run_started' "
        f"AND occurred_at > (SELECT max(occurred_at) FROM warden.agent_events WHERE run_id = '{incident.group(1)}')"))
    assert int(after[0][0]) > 0
    assert re.search(r"\d+ triage_ticket runs went to the fallback \(rules\)", text(demo_ledger))


def test_the_approver_approved_and_rejected_with_rationales_and_nothing_expired(demo_ledger: DemoLedger) -> None:
    outcomes = dict((str(r[0]), int(r[1])) for r in rows(
        demo_ledger, "SELECT toString(decision), count() FROM warden.approvals GROUP BY ALL"))
    assert outcomes.get("approved", 0) > 0 and outcomes.get("rejected", 0) > 0 and "expired" not in outcomes
    assert rows(demo_ledger, "SELECT count() FROM warden.approvals WHERE rationale = ''") == [[0]]


def test_every_summary_table_says_its_scope_and_nothing_is_cut(demo_ledger: DemoLedger) -> None:
    out = text(demo_ledger)
    titles = [line.strip() for line in out.splitlines() if re.match(r"^\s*[A-Z][^│┃┏┡└]*\(warden\.\w+", line)]
    assert len(titles) >= 8, out[-4000:]
    assert all("this demo" in t or "whole ledger" in t for t in titles), titles
    assert "…" not in out  # no id, column or reason cut short


def test_the_agents_route_escalate_and_reuse_answers_and_the_spend_panels_show_it(demo_ledger: DemoLedger) -> None:
    """The demo's agents route at the start of a run, escalate when unsure and look triage tickets up in the
    cache (warden.demo.economics): the spend dashboard's route and cache panels (the report's too) show routes
    besides "(no route)", an escalation rate and cache hits with what they saved."""
    from warden.dashboards.build import dashboards
    from warden.dashboards.macros import render
    from warden.report.data import data_range

    panels = {p.title: p for b in dashboards() for p in b.panels}
    when = data_range(demo_ledger.settings)

    def panel(title: str) -> list[dict[str, Any]]:
        columns, found = access.query(demo_ledger.settings, render(panels[title].sql, when))
        return [dict(zip(columns, r, strict=True)) for r in found]

    deadline = time.monotonic() + 45  # the cost-aggregator rolls up on event time: its last windows come later
    while True:
        routes = {(r["workflow"], r["route"]): r for r in panel("Success and cost per successful task per route")}
        cache = {r["workflow"]: r for r in panel("Cache hits and savings by workflow")}
        if (("triage_ticket", "cheap") in routes and cache.get("triage_ticket", {}).get("hits")) \
                or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert {("triage_ticket", "cheap"), ("provision_access", "default"), ("provision_access", "strong")} <= set(routes)
    cheap = routes[("triage_ticket", "cheap")]
    assert cheap["runs"] > 50 and 0 < cheap["success_rate"] <= 1 and cheap["usd_per_success"] > 0
    assert routes[("refund_ticket", "(no route)")]["runs"] > 0  # releases under rollout keep their model
    escalation = {r["workflow"]: r["escalation_rate"] for r in panel("Escalation rate per workflow")}
    assert 0 < escalation["triage_ticket"] < 0.3 and not escalation["provision_access"]
    assert {r["route"] for r in panel("Spend per route")} >= {"cheap", "default", "strong"}
    triage = cache["triage_ticket"]
    assert triage["hits"] > 10 and triage["tokens_saved"] > 0 and 0 < triage["hit_rate"] < 1
    assert not cache["provision_access"]["hits"]  # its workflow opts out of the cache
    decisions = rows(demo_ledger, "SELECT countIf(cache_hit), countIf(route_decision IS NOT NULL) "
                                  "FROM warden.agent_events WHERE event_type = 'llm_call'")[0]
    assert 0 < triage["hits"] <= int(decisions[0]) and int(decisions[1]) > 100
    assert "Runs per route (warden.cost_rollups" in text(demo_ledger)
