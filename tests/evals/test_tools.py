"""Tool calls go through the proxy's strict schemas and the evaluator's Cedar step; a refusal changes nothing."""

from __future__ import annotations

import json

import pytest

from tests.evals.helpers import toolbox
from warden.core.errors import WardenError
from warden.core.events import EventType, ToolCallCompleted, ToolCallRequested
from warden.evals import Denied

FIXTURE = {"customers": {"c-1": {"customer_id": "c-1", "name": "Ada", "email": "ada@example.com", "tier": "pro"}},
           "tickets": {"t-1": {"status": "open"}}}


def test_an_allowed_call_changes_the_world_and_is_recorded_with_redacted_params() -> None:
    tools, recorder, world = toolbox("refund_ticket", FIXTURE)
    assert tools.call("email", "send", {"to": "ada@example.com", "subject": "hi", "body": "b"}) == {"message_id": "m-1"}
    assert world.diff() == {"outbox": [{"to": "ada@example.com", "subject": "hi", "body": "b"}]}
    requested, completed = recorder.tool_events
    assert isinstance(requested.body, ToolCallRequested) and isinstance(completed.body, ToolCallCompleted)
    assert "ada@example.com" not in requested.body.params and completed.body.status == "ok"
    assert [requested.step, completed.step] == [2, 3] and not recorder.violations


def test_params_that_break_the_schema_are_refused_before_policy() -> None:
    tools, recorder, world = toolbox("refund_ticket", FIXTURE)
    with pytest.raises(Denied) as refused:
        tools.call("payments", "refund", {"order_id": "o-1", "amount_usd": -5, "note": "x"})
    assert refused.value.code == "schema_invalid" and refused.value.decision is None
    assert "input.amount_usd: must be at least 0" in refused.value.reason
    assert "unknown field note" in refused.value.reason
    assert world.diff() == {} and not recorder.tool_events  # like the proxy: no event, no decision
    assert [v.code for v in recorder.violations] == ["schema_invalid"]


def test_approval_required_is_a_violation_and_changes_nothing() -> None:
    tools, recorder, world = toolbox("refund_ticket", FIXTURE)
    with pytest.raises(Denied) as refused:
        tools.call("payments", "refund", {"order_id": "o-1", "amount_usd": 150})
    assert refused.value.code == "approval_required" and refused.value.decision is not None
    assert refused.value.decision.policy_ids == ["refund-over-100"]
    assert world.diff() == {}
    completed = recorder.tool_events[-1].body
    assert isinstance(completed, ToolCallCompleted) and completed.status == "denied"
    assert completed.error_code == "approval_required"
    assert recorder.violations[0].decision == "require_approval"


def test_out_of_inventory_and_unknown_tools_are_denied_by_policy() -> None:
    for tool, action, params in (("crm", "lookup", {"customer_id": "c-1"}), ("shell", "exec", {"cmd": "rm -rf /"})):
        tools, recorder, world = toolbox("export_report", FIXTURE)
        with pytest.raises(Denied, match="out-of-inventory"):
            tools.call(tool, action, params)
        assert world.diff() == {} and [v.code for v in recorder.violations] == ["policy_deny"]
        # out-of-inventory is a stop-ship condition: the rest of this run is switched off, as live
        with pytest.raises(Denied) as switched:
            tools.call("email", "send", {"to": "a@b.co", "subject": "s", "body": "b"})
        assert switched.value.code == "kill_switch" and world.diff() == {}


def test_a_stop_ship_deny_switches_the_workflow_off_for_the_rest_of_the_run() -> None:
    tools, _recorder, world = toolbox("triage_ticket", FIXTURE)
    with pytest.raises(Denied, match="deletes-denied-v1"):
        tools.call("crm", "delete_record", {"record_id": "c-1"})
    with pytest.raises(Denied) as switched:
        tools.call("tickets", "update", {"ticket_id": "t-1", "status": "closed"})
    assert switched.value.code == "kill_switch"
    assert world.diff() == {}


def test_a_lookup_returns_the_entry_and_changes_nothing() -> None:
    tools, recorder, world = toolbox("triage_ticket", FIXTURE)
    assert tools.call("crm", "lookup", {"customer_id": "c-1"})["email"] == "ada@example.com"
    assert world.diff() == {}
    completed = recorder.tool_events[-1].body
    assert isinstance(completed, ToolCallCompleted) and "ada@example.com" not in (completed.output or "")
    assert json.loads(completed.output or "{}")["name"] == "Ada"


def test_a_fixture_entry_off_the_output_schema_fails_the_call_without_changing_anything() -> None:
    tools, recorder, _ = toolbox("triage_ticket", {"customers": {"c-1": {"customer_id": "c-1", "ssn": "x"}}})
    from warden.evals import ToolFailed

    with pytest.raises(ToolFailed) as failed:
        tools.call("crm", "lookup", {"customer_id": "c-1"})
    assert failed.value.code == "output_invalid"
    body = recorder.tool_events[-1].body
    assert isinstance(body, ToolCallCompleted) and body.status == "error" and not recorder.violations


def test_the_live_gate_is_not_available_in_an_eval() -> None:
    tools, _, _ = toolbox("refund_ticket", FIXTURE)
    with pytest.raises(WardenError, match=r"case\.tools\.call"):
        tools.run.authorize("crm", "lookup", {"customer_id": "c-1"})
    assert all(e.event_type != EventType.RUN_COMPLETED for e in tools.recorder.events)
