"""Approval rules without a broker: one decision per call, a rationale, expiry keeps it denied."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.core.samples import AT
from warden.approvals.processor import TIMEOUT_APPROVER, ApprovalError, ApprovalsState, apply, decide, expire
from warden.core.records import ApprovalOutcome, Decision, PolicyDecision, RiskScore


def request(call_id: str = "c1", decision: Decision = Decision.REQUIRE_APPROVAL) -> PolicyDecision:
    return PolicyDecision(decision_id=f"d-{call_id}", event_id=f"e-{call_id}", call_id=call_id, run_id="r1",
                          tenant_id="acme", decided_at=AT, decision=decision, policy_ids=["refund-over-100"],
                          reason="payments.refund needs a human approval", policy_version="v1")


def test_only_require_approval_decisions_wait_for_a_human() -> None:
    state = apply(apply(ApprovalsState(), request("c1")), request("c2", Decision.DENY))
    assert list(state.pending) == ["c1"]


def test_risk_scores_are_shown_with_the_request() -> None:
    state = apply(ApprovalsState(), RiskScore(event_id="e-c1", run_id="r1", score=0.9, factors={},
                                              route_to_human=True))
    state = apply(state, request("c1"))
    assert state.pending["c1"].risk_score == 0.9


def test_a_decision_needs_a_rationale_and_happens_once() -> None:
    state = apply(ApprovalsState(), request())
    with pytest.raises(ApprovalError, match="rationale is required") as err:
        decide(state, "c1", "dana@acme", ApprovalOutcome.APPROVED, "  ", AT)
    assert err.value.status == 422
    approved = decide(state, "c1", "dana@acme", ApprovalOutcome.APPROVED, "known customer", AT)
    assert (approved.approver, approved.decision, approved.rationale) == ("dana@acme", "approved", "known customer")
    apply(state, approved)
    with pytest.raises(ApprovalError, match="already decided: approved by dana@acme") as err:
        decide(state, "c1", "eve@acme", ApprovalOutcome.REJECTED, "no", AT)
    assert err.value.status == 409
    with pytest.raises(ApprovalError, match="no pending approval request") as err:
        decide(state, "nope", "dana@acme", ApprovalOutcome.APPROVED, "x", AT)
    assert err.value.status == 404


def test_undecided_requests_expire_and_stay_denied() -> None:
    state = apply(ApprovalsState(), request())
    assert expire(state, AT + timedelta(seconds=59), timedelta(seconds=60)) == []
    [expired] = expire(state, AT + timedelta(seconds=60), timedelta(seconds=60))
    assert (expired.decision, expired.approver) == (ApprovalOutcome.EXPIRED, TIMEOUT_APPROVER)
    assert "stays denied" in expired.rationale
