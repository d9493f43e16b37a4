"""Panels on a small ledger that holds what the demo does not make (eval runs, rollout decisions, verify
runs) and the cases issue 18 found wrong: risk-routed approvals, blocks under a kill switch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.core.samples import every_record
from tests.dashboards.helpers import event, fill, run_sql
from warden.core.records import (
    ApprovalDecision,
    ApprovalOutcome,
    Control,
    ControlKind,
    Decision,
    EvalResult,
    EvalRun,
    PolicyDecision,
    RiskScore,
)
from warden.dashboards.build import dashboards
from warden.dashboards.macros import TimeRange
from warden.dashboards.model import Panel
from warden.ledger.client import Ledger
from warden.ledger.migrations import migrate
from warden.ledger.verifications import record as record_verification

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
WHEN = TimeRange(T0, T0 + timedelta(hours=1))
BOARDS = dashboards()
PANELS = {p.title: p for b in BOARDS for p in b.panels}


def decision(run: str, call: str, kind: Decision, ids: list[str], at: datetime, version: str = "b1",
             tenant: str = "acme") -> PolicyDecision:
    return PolicyDecision(decision_id=str(uuid.uuid4()), event_id=str(uuid.uuid4()), call_id=call, run_id=run,
                          tenant_id=tenant, decided_at=at, decision=kind, policy_ids=ids, reason="r",
                          policy_version=version)


def switch(scope: str, active: bool, at: datetime, actor: str = "dana@acme.com") -> Control:
    return Control(kind=ControlKind.KILL, scope=scope, active=active, actor=actor, reason=f"why {scope}", at=at)


def records() -> list[Any]:
    at = T0 + timedelta(minutes=5)
    out: list[Any] = []
    runs = [("acme", "refund_ticket", "v1"), ("acme", "refund_ticket", "v2"), ("globex", "export_report", None),
            ("acme", "refund_ticket", "v1")]
    for n, (tenant, workflow, release) in enumerate(runs):
        run = f"run-{n}"
        out.append(event("run_started", run, at, 1, tenant, workflow, workflow_version="v1", prompt_version="p",
                         model="gpt-4o-mini", release=release))
        out.append(event("run_completed", run, at + timedelta(seconds=30), 5, tenant, workflow, status="succeeded"))
    # one model call, free, so the input-tokens-per-step panel has a row and no cost figure moves
    out.append(event("llm_call", "run-3", at + timedelta(seconds=10), 2, model="gpt-4o-mini", provider="openai",
                     input_tokens=1200, output_tokens=40, latency_ms=300.0, cost_usd=0.0))
    # run-0: policy sends c-0 to a human; run-1: policy allows c-1 but the risk-scorer routes it
    out.append(decision("run-0", "c-0", Decision.REQUIRE_APPROVAL, ["refund-over-100"], at + timedelta(seconds=1)))
    out.append(decision("run-1", "c-1", Decision.ALLOW, ["allow-inventory"], at + timedelta(seconds=1), "b2"))
    out.append(RiskScore(event_id=str(uuid.uuid4()), run_id="run-1", score=0.97, factors={"amount": 0.9},
                         route_to_human=True, tenant_id="acme", workflow="refund_ticket", call_id="c-1",
                         scored_at=at + timedelta(seconds=2), reason="routed"))
    for call, run, outcome in (("c-0", "run-0", ApprovalOutcome.APPROVED), ("c-1", "run-1", ApprovalOutcome.REJECTED)):
        out.append(ApprovalDecision(approval_id=str(uuid.uuid4()), call_id=call, run_id=run, approver="dana@acme.com",
                                    decided_at=at + timedelta(seconds=20), decision=outcome, rationale="checked"))
    # blocks: one under a kill switch (the call also met a permit), one by a forbid rule
    out.append(decision("run-2", "c-2", Decision.DENY, ["switch:kill:workflow:export_report", "allow-inventory"],
                        at + timedelta(seconds=3), "b2", tenant="globex"))
    out.append(decision("run-3", "c-3", Decision.DENY, ["deletes-denied-v1"], at + timedelta(seconds=4), "b2"))
    out += [switch("global", True, T0 - timedelta(hours=2)), switch("global", False, T0 - timedelta(hours=1)),
            switch("workflow:export_report", True, at, "warden:stop-ship"), switch("tenant:acme", True, at),
            switch("tenant:globex", True, WHEN.end + timedelta(minutes=5)),  # after the range: not on yet
            switch("tool:rollout:refund_ticket", True, at, "warden:rollout")]  # a rollout stage, not a switch
    eval_run = next(r for r in every_record() if isinstance(r, EvalRun))
    eval_result = next(r for r in every_record() if isinstance(r, EvalResult))
    out.append(eval_run.model_copy(update={"completed_at": at, "tenant_id": "acme"}))
    out.append(eval_result.model_copy(update={"completed_at": at}))
    return out


@pytest.fixture(scope="module")
def small(chdb_url: str) -> Iterator[Ledger]:
    client = Ledger(chdb_url, database=f"w_{uuid.uuid4().hex[:10]}")
    migrate(client, {"*": 7})
    fill(client, records())
    client.insert("rollout_decisions", ["decision_id", "rollout_id", "workflow", "baseline", "candidate", "step",
                                        "next_step", "decision", "status", "reason", "failed_gates", "metrics",
                                        "window_start", "decided_at"],
                  [[v] for v in ("d-1", "ro-1", "refund_ticket", "v1", "v2", 5, 0, "rollback", "rolled_back",
                                 "cost gate failed", ["cost_per_task_usd"],
                                 '{"cost_per_task_usd": {"value": 0.14, "runs": 210}}', T0, T0 + timedelta(minutes=9))])
    record_verification(client, T0, 120, 9, ["agent_events record e-1: content does not match its hash"], "auditor",
                        T0 + timedelta(minutes=1))
    yield client
    client.command(f"DROP DATABASE IF EXISTS {client.database}")


def rows(ledger: Ledger, title: str, **selection: list[str]) -> list[dict[str, Any]]:
    panel: Panel = PANELS[title]
    return run_sql(ledger, panel.sql, WHEN, selection)[1]


def test_every_panel_runs_on_this_ledger(small: Ledger) -> None:
    """Empty only where this ledger holds nothing for the panel (no alerts, dead letters, rollups, tool calls)."""
    unfed = ("warden.dead_letters", "warden.alerts\n", "warden.cost_rollups", "tool_call_completed")
    empty = {title for title in PANELS if not any(v is not None for r in rows(small, title) for v in r.values())}
    assert empty == {t for t, p in PANELS.items() if any(source in p.sql for source in unfed)}


def test_approval_panels_count_risk_routed_requests_too(small: Ledger) -> None:
    outcomes = {r["outcome"]: r["calls"] for r in rows(small, "Approval outcomes")}
    assert outcomes == {"approved": 1, "rejected": 1}  # an inner join on policy's requests kept 1 of 2
    requested = sum(r["calls"] for r in rows(small, "Approval requests and decisions") if r["outcome"] == "requested")
    assert requested == 2
    assert {r["sent_by"]: r["requests"] for r in rows(small, "Approval requests by sender")} == {"policy": 1, "risk": 1}
    waits = {r["outcome"]: (r["p50_s"], r["p95_s"]) for r in rows(small, "Time to decision")}
    assert waits == {"approved": (19.0, 19.0), "rejected": (18.0, 18.0)}
    assert rows(small, "Approvers")[0]["requests_from"] == "policy, risk"
    assert rows(small, "HITL share of runs")[0]["hitl_share"] == 0.5  # run-0 and run-1 of four runs


def test_blocks_name_the_switch_or_the_forbid_never_a_permit(small: Ledger) -> None:
    blocks = {r["policy"]: r["blocks"] for r in rows(small, "Blocks by policy")}
    assert blocks == {"switch:kill:workflow:export_report": 1, "deletes-denied-v1": 1}


def test_active_kill_switches_at_the_end_of_the_range(small: Ledger) -> None:
    found = [(r["scope"], r["set_by"], r["why"]) for r in rows(small, "Active kill switches")]
    assert sorted(found) == [("tenant:acme", "dana@acme.com", "why tenant:acme"),
                             ("workflow:export_report", "warden:stop-ship", "why workflow:export_report")]
    assert [r["scope"] for r in rows(small, "Active kill switches", tenant=["globex"])] == ["workflow:export_report"]
    assert [r["scope"] for r in rows(small, "Active kill switches", workflow=["refund_ticket"])] == ["tenant:acme"]


def test_policy_bundle_in_force_is_the_latest_decisions_version(small: Ledger) -> None:
    assert rows(small, "Policy bundle in force") == [{"policy_version": "b2"}]
    assert [r["policy_version"] for r in rows(small, "Policy bundle versions")] == ["b2", "b1"]
    assert rows(small, "Policy bundle in force", tenant=["globex"]) == [{"policy_version": "b2"}]


def test_releases_evals_rollouts_and_verification(small: Ledger) -> None:
    share = {r["series"]: r["share"] for r in rows(small, "Release share of runs")}
    assert share == {"refund_ticket v1": pytest.approx(2 / 3), "refund_ticket v2": pytest.approx(1 / 3),
                     "export_report v1": 1.0}
    assert {r["series"] for r in rows(small, "Task success rate by release")} == set(share)
    assert rows(small, "Eval runs")[0]["targets"] == "met"
    assert rows(small, "Eval success rate")[0]["success_rate"] == 0.935
    assert rows(small, "Failed eval items")[0]["reasons"].startswith("wrong change refunds[+0].amount_usd")
    decided = rows(small, "Rollout decisions")[0]
    assert (decided["decision"], decided["failed_gates"], decided["candidate_cost_per_task"]) == (
        "rollback", "cost_per_task_usd", 0.14)
    verified = rows(small, "Ledger verification")[0]
    assert (verified["result"], verified["records"], verified["problems"], verified["actor"]) == (
        "PROBLEMS", 120, 1, "auditor")
