"""The evaluator's pure step: run facts, stop-ship switches, deterministic decisions."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest

from tests.core.samples import AT, BODIES, event, other_event
from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.records import Control, Decision, PolicyDecision
from warden.policy.bundle import load_bundle
from warden.policy_evaluator.processor import READS, STOP_SHIP_ACTOR, EvaluatorState, Output, decision_id, step

BUNDLE = load_bundle()


def call(workflow: str, tool_action: str, params: dict[str, object], run_id: str = "run-1",
         seconds: int = 0) -> AgentEvent:
    tool, action = tool_action.split(".")
    return event("tool_call_requested", workflow=workflow, run_id=run_id, occurred_at=AT + timedelta(seconds=seconds),
                 body={"call_id": f"c-{seconds}", "tool": tool, "action": action, "resource": None,
                       "params": json.dumps(params)})


def decisions(outputs: list[Output]) -> list[PolicyDecision]:
    return [o.record for o in outputs if isinstance(o.record, PolicyDecision)]


def test_one_decision_per_call_with_the_bundle_version_and_a_stable_id() -> None:
    e = call("refund_ticket", "crm.lookup", {"customer_id": "c"})
    _, outputs = step(EvaluatorState(), BUNDLE, e)
    [decision] = decisions(outputs)
    assert decision.decision == Decision.ALLOW
    assert decision.policy_version == BUNDLE.version
    assert decision.decision_id == decision_id(e.event_id)
    assert (decision.event_id, decision.call_id, decision.run_id) == (e.event_id, "c-0", "run-1")


def test_require_approval_also_goes_to_the_approvals_topic() -> None:
    _, outputs = step(EvaluatorState(), BUNDLE, call("refund_ticket", "payments.refund",
                                                     {"order_id": "o", "amount_usd": 250}))
    assert [o.topic for o in outputs] == [topics.POLICY_DECISIONS, topics.APPROVAL_REQUESTS]


def test_a_stop_ship_deny_sets_the_workflows_kill_switch_once() -> None:
    state = EvaluatorState()
    state, outputs = step(state, BUNDLE, call("triage_ticket", "crm.delete_record", {"record_id": "r"}))
    [decision] = decisions(outputs)
    [switch] = [o.record for o in outputs if o.topic == topics.CONTROL]
    assert decision.stop_ship and decision.decision == Decision.DENY
    assert isinstance(switch, Control)
    assert (switch.scope, switch.active, switch.actor) == ("workflow:triage_ticket", True, STOP_SHIP_ACTOR)
    assert "deletes-denied-v1" in switch.reason
    state, outputs = step(state, BUNDLE, call("triage_ticket", "tickets.update",
                                              {"ticket_id": "t", "status": "s", "comment": "c"}, "run-2", 5))
    [blocked] = decisions(outputs)
    assert blocked.decision == Decision.DENY
    assert "kill switch workflow:triage_ticket set by warden:stop-ship" in blocked.reason
    assert not [o for o in outputs if o.topic == topics.CONTROL]


def test_run_facts_follow_the_run_and_end_with_it() -> None:
    state = EvaluatorState()
    state, _ = step(state, BUNDLE, event("llm_call", body={"model": "m", "provider": "p", "input_tokens": 1,
                                                           "output_tokens": 1, "latency_ms": 1.0, "cost_usd": 0.25}))
    state, _ = step(state, BUNDLE, call("refund_ticket", "crm.delete_record", {"record_id": "r"}))
    facts = state.runs["run-1"]
    assert (facts.spend_usd, facts.denials) == (0.25, 1)
    state, _ = step(state, BUNDLE, event("run_completed"))
    assert "run-1" not in state.runs


def test_control_records_update_the_switches() -> None:
    state = EvaluatorState()
    control = Control(kind="kill", scope="tenant:acme", active=True, actor="me", reason="r", at=AT)
    state, outputs = step(state, BUNDLE, control)
    assert outputs == [] and "kill:tenant:acme" in state.switches.active


def test_odd_characters_in_a_workflow_name_do_not_break_the_stop_ship_switch() -> None:
    _, outputs = step(EvaluatorState(), BUNDLE, call("triage_ticket\n", "crm.delete_record", {"record_id": "r"}))
    [switch] = [o.record for o in outputs if isinstance(o.record, Control)]
    assert switch.scope == "workflow:triage_ticket\n"


@pytest.mark.parametrize("event_type", sorted(set(BODIES) - READS))
def test_an_event_type_outside_reads_changes_nothing(event_type: str) -> None:
    """The service skips these before validating them: step must be a no-op for them, or the
    live evaluator and `warden replay` would part."""
    state = EvaluatorState()
    for e in (call("refund_ticket", "crm.lookup", {"customer_id": "c"}), event("llm_call", body={
            **BODIES["llm_call"], "cost_usd": 1.5})):
        state, _ = step(state, BUNDLE, e)
    before = copy.deepcopy(state)
    for e in (event(event_type), other_event(event_type)):
        state, outputs = step(state, BUNDLE, e)
        assert outputs == []
    assert state == before


def test_an_event_a_client_sends_again_adds_no_spend_or_denial_and_is_not_decided_again() -> None:
    state = EvaluatorState()
    spend = event("llm_call", body={"model": "m", "provider": "p", "input_tokens": 1, "output_tokens": 1,
                                    "latency_ms": 1.0, "cost_usd": 0.25})
    delete = call("refund_ticket", "crm.delete_record", {"record_id": "r"})
    for e in (spend, spend, delete):
        state, _ = step(state, BUNDLE, e)
    state, again = step(state, BUNDLE, delete)
    assert again == []
    facts = state.runs["run-1"]
    assert (facts.spend_usd, facts.denials) == (0.25, 1)

def _decide(workflow: str, tool_action: str, params: str) -> PolicyDecision:
    tool, action = tool_action.split(".")
    e = event("tool_call_requested", workflow=workflow,
              body={"call_id": "c", "tool": tool, "action": action, "resource": None, "params": params})
    [decision] = [o.record for o in step(EvaluatorState(), BUNDLE, e)[1] if o.topic == topics.POLICY_DECISIONS]
    assert isinstance(decision, PolicyDecision)
    return decision


@pytest.mark.parametrize(("params", "field"), [
    ('{"order_id": "o"}', "params.amount_usd: is required"),
    ('{"order_id": "o", "amount": 500}', "params.amount_usd: is required"),
    ('{"order_id": "o", "refund": {"amount_usd": 500}}', "params.refund: unknown field refund"),
    ('{"order_id": "o", "amount_usd": null}', "params.amount_usd: must be of type number"),
    ('{"order_id": "o", "amount_usd": "500"}', "params.amount_usd: must be of type number"),
])
def test_a_refund_whose_amount_is_missing_misnamed_nested_or_null_is_denied_as_invalid_params(
        params: str, field: str) -> None:
    """Issue 13: the stream evaluator allowed these (the refund rule did not fire without amount_usd)."""
    decision = _decide("refund_ticket", "payments.refund", params)
    assert decision.decision == Decision.DENY
    assert decision.reason.startswith("invalid params: ")
    assert field in decision.reason


@pytest.mark.parametrize("amount", ["100.00001", "100.00004", "100.000000000000001", "1e15", "-1e16"])
def test_an_amount_cedar_cannot_hold_exactly_is_refused_never_rounded(amount: str) -> None:
    decision = _decide("refund_ticket", "payments.refund", f'{{"order_id": "o", "amount_usd": {amount}}}')
    assert decision.decision == Decision.DENY
    assert "invalid params" in decision.reason and "cedar_decimal" in decision.reason


@pytest.mark.parametrize(("amount", "expected"), [
    ("100.0001", Decision.REQUIRE_APPROVAL), ("100.00010", Decision.REQUIRE_APPROVAL), ("100.0000", Decision.ALLOW),
    ("1e2", Decision.ALLOW), ("100", Decision.ALLOW), ("999999.9999", Decision.REQUIRE_APPROVAL),
])
def test_amounts_reach_cedar_with_their_exact_value(amount: str, expected: Decision) -> None:
    assert _decide("refund_ticket", "payments.refund",
                   f'{{"order_id": "o", "amount_usd": {amount}}}').decision == expected


# The last: a fullwidth "a".
@pytest.mark.parametrize("role", ["Admin", "admin ", " owner", "OWNER", "admin\t", "\uff41dmin"])
def test_a_privileged_role_differing_by_case_or_whitespace_does_not_slip_through(role: str) -> None:
    """Issue 13: allowed before. The inventory's schema enumerates the roles; the enum compares exactly."""
    decision = _decide("provision_access", "iam.grant_access", json.dumps({"user": "bo@acme.com", "role": role}))
    assert decision.decision == Decision.DENY
    assert "invalid params: params.role" in decision.reason


def test_the_exact_roles_still_decide_as_policy_says() -> None:
    for role, expected in (("admin", Decision.REQUIRE_APPROVAL), ("owner", Decision.REQUIRE_APPROVAL),
                           ("viewer", Decision.ALLOW)):
        params = json.dumps({"user": "bo@acme.com", "role": role})
        assert _decide("provision_access", "iam.grant_access", params).decision == expected


def test_invalid_params_outside_the_inventory_still_trip_the_stop_ship_condition() -> None:
    decision = _decide("refund_ticket", "crm.delete_record", '{"nope": 1}')
    assert decision.decision == Decision.DENY and decision.stop_ship
    assert "out-of-inventory" in decision.policy_ids and "invalid params" in decision.reason
