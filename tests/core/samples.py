"""One valid instance of every record on Warden's topics, shared by the core tests and the processor tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from warden.core import records
from warden.core.events import AgentEvent, new_event_id
from warden.core.wire import Wire

AT = datetime(2026, 11, 24, 9, 30, 1, 123000, tzinfo=UTC)

BODIES: dict[str, dict[str, Any]] = {
    "run_started": {"workflow_version": "v3", "prompt_version": "p2", "model": "gpt-4o-mini"},
    "llm_call": {"model": "gpt-4o-mini", "provider": "openai", "input_tokens": 812, "output_tokens": 96,
                 "cached_tokens": 128, "latency_ms": 640.5, "cost_usd": None},
    "tool_call_requested": {"call_id": "c1", "tool": "payments", "action": "refund", "resource": "Order::o1",
                            "params": json.dumps({"order_id": "o1", "amount_usd": 120.0})},
    "tool_call_completed": {"call_id": "c1", "tool": "payments", "status": "error", "error_code": "TIMEOUT",
                            "latency_ms": 2000.0, "output": None},
    "run_completed": {"status": "succeeded", "state_change": json.dumps({"refunded": 120.0})},
}

# The other side of every nullable / defaulted body field, so round trips cover both union branches.
OTHER_BODIES: dict[str, dict[str, Any]] = {
    "run_started": {"workflow_version": "", "prompt_version": "p-ü", "model": "claude-3"},
    "llm_call": {"model": "m", "provider": "anthropic", "input_tokens": 2**40, "output_tokens": 0,
                 "latency_ms": 0.0, "cost_usd": 0.000123},
    "tool_call_requested": {"call_id": "c2", "tool": "crm", "action": "lookup", "resource": None,
                            "params": json.dumps({"customer_id": "cus_1", "note": "naïve \u2603"})},
    "tool_call_completed": {"call_id": "c2", "tool": "crm", "status": "ok", "error_code": None,
                            "latency_ms": 12.25, "output": json.dumps({"rows": [1, 2, 3]})},
    "run_completed": {"status": "aborted", "state_change": None},
}


def event(event_type: str, **changes: object) -> AgentEvent:
    data = {"event_id": new_event_id(), "event_type": event_type, "occurred_at": AT, "tenant_id": "acme",
            "workflow": "refund_ticket", "run_id": "run-1", "agent_id": "agent-7", "user_id": "u-1", "step": 3,
            "body": BODIES[event_type], **changes}
    return AgentEvent.model_validate(data)


def other_event(event_type: str) -> AgentEvent:
    """An event whose optional fields take the values ``event`` does not use."""
    return event(event_type, user_id=None, step=2**31 - 1, body=OTHER_BODIES[event_type])


def control() -> records.Control:
    return records.Control(kind=records.ControlKind.KILL, scope="tool:payments.refund", active=True,
                           actor="oncall@acme", reason="refund storm", at=AT)


def every_record() -> list[BaseModel]:
    return [
        *(event(t) for t in BODIES),
        records.PolicyDecision(decision_id="d1", event_id=new_event_id(), call_id="c1", run_id="run-1",
                               tenant_id="acme", decided_at=AT, decision=records.Decision.REQUIRE_APPROVAL,
                               policy_ids=["refund-over-100"], reason="amount_usd > 100", policy_version="abc123"),
        records.RiskScore(event_id=new_event_id(), run_id="run-1", score=0.83,
                          factors={"amount": 0.5, "novelty": 0.33}, route_to_human=True),
        records.ApprovalDecision(approval_id="a1", call_id="c1", run_id="run-1", approver="dana@acme",
                                 decided_at=AT, decision=records.ApprovalOutcome.APPROVED, rationale="known customer"),
        records.CostRollup(window_start=AT, window_end=AT, tenant_id="acme", workflow="refund_ticket",
                           model="gpt-4o-mini", input_tokens=1000, output_tokens=200, cost_usd=0.0123,
                           runs_completed=3, runs_succeeded=2),
        records.Alert(alert_id="al1", kind=records.AlertKind.RUNAWAY_STEPS, severity=records.Severity.PAGE,
                      tenant_id="acme", workflow="refund_ticket", run_id="run-1", tool=None,
                      summary="run passed 50 steps", first_seen=AT, last_seen=AT, count=1),
        records.DeadLetter(dead_letter_id="dl1", source_topic="agent.events", source_partition=2,
                           source_offset=77, source_key="run-1", error_kind=records.DeadLetterKind.DECODE,
                           reason="garbage", raw=b"\x00\xffgarbage", failed_at=AT, service="ledger-sink"),
        records.ProxyCall(proxy_call_id="pc1", kind=records.ProxyCallKind.CALL, at=AT, call_id="c1",
                          event_id=new_event_id(), tenant_id="acme", workflow="refund_ticket", run_id="run-1",
                          agent_id="agent-7", tool="payments", action="refund", token_id="tok-1", key_id="k1",
                          outcome=records.ProxyOutcome.ALLOWED, status_code=200, reason_code="ok", reason="ok",
                          decision="allow", policy_ids=["refund-default"], policy_version="abc123",
                          upstream_called=True, upstream_status=200, latency_ms=1.5, upstream_latency_ms=0.9,
                          redactions=1, redaction_kinds=["email"], replica="host:1"),
        records.EvalRun(eval_run_id="ev1", started_at=AT, completed_at=AT, dataset="golden.jsonl",
                        dataset_sha256="ab" * 32, agent="pkg.mod:agent", tenant_id="eval", release="r-7",
                        model="gpt-4o-mini", prompt_version="p2", tool_schema_hash="t1", policy_bundle_hash="b1",
                        tags=["golden"], workflows=["refund_ticket"], items=200, passed=187, success_rate=0.935,
                        success_rate_ci95_low=0.89, success_rate_ci95_high=0.96, violation_rate=0.01,
                        cost_per_task_usd=0.004, latency_p95_s=2.5, met_targets=True, missed_targets=[]),
        records.EvalResult(result_id="er1", eval_run_id="ev1", item_id="refund-001", workflow="refund_ticket",
                           run_id="run-1", release="r-7", completed_at=AT, passed=False, status="succeeded",
                           reasons=["wrong change refunds[+0].amount_usd: expected 20, got 25"],
                           violations=['{"tool": "crm.delete_record"}'], cost_usd=0.001, steps=12, latency_s=1.5,
                           tags=["golden"]),
        rollout_stage(),
        records.RolloutDecision(
            decision_id="rd1", rollout_id="ro1", workflow="refund_ticket", baseline="v3", candidate="v4", step=5,
            next_step=0, decision=records.RolloutDecisionKind.ROLLBACK, status=records.RolloutStatus.ROLLED_BACK,
            reason="gate failed", failed_gates=["cost_per_task_usd"],
            metrics={"cost_per_task_usd": records.MetricFigure(value=0.14, low=0.13, high=0.15, runs=212,
                                                               target=0.1, bound="max", verdict="fail")},
            baseline_metrics={"cost_per_task_usd": records.MetricFigure(value=0.1, low=0.09, high=0.11, runs=4000)},
            candidate_runs=212, candidate_completed=212, baseline_runs=4000, baseline_completed=3990,
            window_start=AT, decided_at=AT, approval_call_id="rollout:ro1:1:0"),
    ]


def rollout_stage() -> records.Control:
    stage = records.RolloutStage(rollout_id="ro1", workflow="refund_ticket", baseline="v3", candidate="v4",
                                 steps=[5, 25, 100], step_index=1, percent=25,
                                 status=records.RolloutStatus.AWAITING_APPROVAL, plan="{}", step_started_at=AT,
                                 seq=3, approval_call_id="rollout:ro1:1:0", command_ids=["ro1"])
    return records.Control(kind=records.ControlKind.READ_ONLY, scope="tool:rollout:refund_ticket", active=False,
                           actor="warden:rollout-controller", reason="promoted", at=AT, rollout=stage)


def other_records() -> list[BaseModel]:
    """Each output record again with empty collections, nulls, defaults flipped and extreme numbers."""
    return [
        *(other_event(t) for t in OTHER_BODIES),
        records.PolicyDecision(decision_id="d2", event_id=new_event_id(), call_id="c2", run_id="run-2",
                               tenant_id="acme", decided_at=AT, decision=records.Decision.DENY, policy_ids=[],
                               reason="", policy_version="", stop_ship=True),
        records.RiskScore(event_id=new_event_id(), run_id="run-2", score=0.0, factors={}, route_to_human=False),
        records.ApprovalDecision(approval_id="a2", call_id="c2", run_id="run-2", approver="timeout",
                                 decided_at=AT, decision=records.ApprovalOutcome.EXPIRED, rationale=""),
        records.CostRollup(window_start=AT, window_end=AT, tenant_id="acme", workflow="export_report",
                           model="m", input_tokens=2**62, output_tokens=0, cost_usd=0.0,
                           runs_completed=0, runs_succeeded=0),
        records.Alert(alert_id="al2", kind=records.AlertKind.POLICY_BLOCK_SPIKE, severity=records.Severity.INFO,
                      tenant_id="acme", workflow="triage_ticket", run_id=None, tool="crm.delete_record",
                      summary="blocks x3", first_seen=AT, last_seen=AT, count=2**40),
        records.DeadLetter(dead_letter_id="dl2", source_topic="alerts", source_partition=0, source_offset=0,
                           source_key=None, error_kind=records.DeadLetterKind.VALIDATE, reason="step 0",
                           raw=b"", failed_at=AT, service="policy-evaluator"),
        control(),
        records.ProxyCall(proxy_call_id="pc2", kind=records.ProxyCallKind.TOKEN_REVOKED, at=AT, tool="", action="",
                          outcome=records.ProxyOutcome.REFUSED, status_code=401, reason_code="token_tampered",
                          reason="signature does not verify", upstream_called=False, latency_ms=0.0,
                          actor="platform@acme"),
        records.EvalRun(eval_run_id="ev2", started_at=AT, completed_at=AT, dataset="", dataset_sha256="",
                        agent="m:f", tenant_id="", release=None, model="unknown", prompt_version="unknown",
                        tool_schema_hash="", policy_bundle_hash="", items=0, passed=0, success_rate=None,
                        success_rate_ci95_low=0.0, success_rate_ci95_high=1.0, violation_rate=None,
                        cost_per_task_usd=None, latency_p95_s=None, met_targets=False,
                        missed_targets=["refund_ticket: task_success_rate None < 0.9"]),
        records.EvalResult(result_id="er2", eval_run_id="ev2", item_id="x", workflow="triage_ticket", run_id="r",
                           completed_at=AT, passed=True, status=None, cost_usd=0.0, steps=0, latency_s=None),
        records.Control(kind=records.ControlKind.READ_ONLY, scope="tool:rollout:refund_ticket", active=False,
                        actor="oncall@acme", reason="", at=AT, rollout_command=records.RolloutCommand(
                            command_id="cmd1", action=records.RolloutAction.ROLLBACK, workflow="refund_ticket")),
        records.RolloutDecision(
            decision_id="rd2", rollout_id="ro1", workflow="refund_ticket", baseline="v3", candidate="v4", step=0,
            next_step=5, decision=records.RolloutDecisionKind.START, status=records.RolloutStatus.RUNNING, reason="",
            window_start=AT, decided_at=AT, manual=True, actor="owner@acme", rationale="ship it"),
    ]


DEEP = "[" * 10_000 + "]" * 10_000  # issue 13's reproduction: JSON nested 10,000 levels deep


def avro_with(wire: Wire, event_type: str, **body: Any) -> bytes:
    """The raw Avro of an event whose body fields skip the model's checks (what a hostile client sends)."""
    record = event(event_type).to_avro()
    record["body"] = (record["body"][0], {**record["body"][1], **body})
    return wire.codec.encode("warden.AgentEvent", record)
