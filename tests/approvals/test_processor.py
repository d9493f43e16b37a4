"""Approval rules without a broker: one decision per call, a rationale, expiry keeps it denied."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.core.samples import AT
from warden.approvals.processor import (
    TIMEOUT_APPROVER,
    ApprovalError,
    ApprovalsState,
    Risk,
    apply,
    decide,
    expire,
    resolve,
)
from warden.approvals.scopes import ApproverGrant
from warden.core.records import ApprovalOutcome, Decision, PolicyDecision, RiskScore


def request(call_id: str = "c1", decision: Decision = Decision.REQUIRE_APPROVAL,
            tenant_id: str = "acme") -> PolicyDecision:
    return PolicyDecision(decision_id=f"d-{call_id}", event_id=f"e-{call_id}", call_id=call_id, run_id="r1",
                          tenant_id=tenant_id, decided_at=AT, decision=decision, policy_ids=["refund-over-100"],
                          reason="payments.refund needs a human approval", policy_version="v1")


def test_only_require_approval_decisions_wait_for_a_human() -> None:
    state = apply(apply(ApprovalsState(), request("c1")), request("c2", Decision.DENY))
    assert list(state.pending) == ["c1"]


def test_risk_scores_are_shown_with_the_request() -> None:
    state = apply(ApprovalsState(), RiskScore(event_id="e-c1", run_id="r1", score=0.9, factors={},
                                              route_to_human=True))
    state = apply(state, request("c1"))
    assert state.pending["c1"].risk == Risk(0.9)


def test_the_top_three_contributions_are_kept_with_the_score_whichever_comes_first() -> None:
    score = RiskScore(event_id="e-c1", run_id="r1", score=0.62, route_to_human=True,
                      factors={"magnitude": 0.9, "external": 1.0, "steps": 0.1, "pii": 0.0, "novelty_amount": 0.5},
                      contributions={"magnitude": 0.27, "external": 0.2, "steps": 0.01, "pii": 0.0,
                                     "novelty_amount": 0.14})
    for first, then in ((score, request("c1")), (request("c1"), score)):
        state = apply(apply(ApprovalsState(), first), then)
        risk = state.pending["c1"].risk
        assert risk is not None and risk.score == 0.62
        assert risk.top == (("magnitude", 0.27), ("external", 0.2), ("novelty_amount", 0.14))


def test_a_unique_prefix_names_a_call_and_an_ambiguous_or_unknown_one_says_why() -> None:
    ids = ["22b410b7-aaaa-4000-8000-000000000001", "22b410b7-bbbb-4000-8000-000000000002",
           "9f00aa11-cccc-4000-8000-000000000003"]
    state = ApprovalsState()
    for call_id in ids:
        apply(state, request(call_id))
    apply(state, request("22b410b7-dddd-globex", tenant_id="globex"))
    acme = ApproverGrant(token="t", tenants=["acme"])
    assert resolve(state, ids[0]) == ids[0]
    assert resolve(state, "22b410b7-a", acme) == ids[0]
    assert resolve(state, "  9f00aa  ", acme) == ids[2]
    with pytest.raises(ApprovalError) as err:
        resolve(state, "22b410b7", acme)
    assert err.value.status == 409 and f"{ids[0]}, {ids[1]}" in str(err.value)
    assert "globex" not in str(err.value)  # another tenant's call is neither matched nor named
    with pytest.raises(ApprovalError) as err:
        resolve(state, "22b410b7-d", acme)
    assert err.value.status == 404 and "no pending approval request" in str(err.value)
    assert resolve(state, "22b410b7-d") == "22b410b7-dddd-globex"  # an all-tenant grant sees it
    with pytest.raises(ApprovalError, match="at least 6 characters"):
        resolve(state, "22b4", acme)
    apply(state, decide(state, ids[2], "dana@acme", ApprovalOutcome.APPROVED, "ok", AT))
    assert resolve(state, "9f00aa", acme) == ids[2]  # decided: decide() then says by whom
    with pytest.raises(ApprovalError, match="already decided: approved by dana@acme"):
        decide(state, resolve(state, "9f00aa", acme), "eve@acme", ApprovalOutcome.REJECTED, "no", AT)


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


def test_a_request_whose_time_is_up_is_refused_before_its_expiry_is_written() -> None:
    state = apply(ApprovalsState(), request())
    timeout = timedelta(minutes=15)
    late = state.pending["c1"].expires_at(timeout)
    with pytest.raises(ApprovalError, match=r"expired at .*the call stays denied") as err:
        decide(state, "c1", "dana@acme", ApprovalOutcome.APPROVED, "ok", late, timeout=timeout)
    assert err.value.status == 409
    on_time = decide(state, "c1", "dana@acme", ApprovalOutcome.APPROVED, "ok", late - timedelta(seconds=1),
                     timeout=timeout)
    assert on_time.decision == ApprovalOutcome.APPROVED
