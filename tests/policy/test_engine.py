"""The reference bundle implements DESIGN.md's table exactly; switches and errors deny."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from warden.core.records import Control, ControlKind, Decision
from warden.core.switches import STOP_SHIP_ACTOR, Switches
from warden.policy.bundle import DEFAULT_POLICIES, load_bundle
from warden.policy.engine import PolicyRequest, evaluate
from warden.replay.policy import run_cases

BUNDLE = load_bundle()
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def request(workflow: str, tool_action: str, params: dict[str, object] | None, **extra: object) -> PolicyRequest:
    tool, action = tool_action.split(".")
    return PolicyRequest(tenant_id=str(extra.pop("tenant", "acme")), workflow=workflow, agent_id="a1", tool=tool,
                         action=action, resource=None, params=params, **extra)  # type: ignore[arg-type]


def test_the_reference_cases_all_pass() -> None:
    results = run_cases(BUNDLE, sorted((DEFAULT_POLICIES / "tests").glob("*.yaml")))
    assert len(results) >= 14
    assert [r.name for r in results if not r.passed] == []


@pytest.mark.parametrize("amount", [100.5, 101, 5000])
def test_refund_amounts_over_100_need_approval_whether_int_or_float(amount: float) -> None:
    verdict = evaluate(BUNDLE, request("refund_ticket", "payments.refund", {"order_id": "o", "amount_usd": amount}))
    assert verdict.decision == Decision.REQUIRE_APPROVAL
    assert verdict.policy_ids == ("refund-over-100",)


def test_a_plain_forbid_beats_a_require_approval() -> None:
    verdict = evaluate(BUNDLE, request("triage_ticket", "payments.refund", {"order_id": "o", "amount_usd": 900}))
    assert verdict.decision == Decision.DENY
    assert "out-of-inventory" in verdict.policy_ids
    assert verdict.stop_ship


def test_stop_ship_is_marked_only_for_the_workflows_conditions() -> None:
    delete = evaluate(BUNDLE, request("triage_ticket", "crm.delete_record", {"record_id": "r"}))
    assert (delete.decision, delete.stop_ship) == (Decision.DENY, True)
    assert "stop-ship condition of workflow triage_ticket" in delete.reason


def test_an_evaluation_error_fails_closed(tmp_path: Path) -> None:
    bundle_dir = tmp_path / "bundle"
    shutil.copytree(DEFAULT_POLICIES, bundle_dir)
    # Valid against the schema, but overflows at run time: Cedar skips an erroring policy, which
    # for a forbid would mean letting the call through.
    (bundle_dir / "zz-overflow.cedar").write_text(
        '@id("overflow")\nforbid (principal, action == Action::"payments.refund", resource)\n'
        'when { context.run.step * 9223372036854775807 > 1 };\n')
    verdict = evaluate(load_bundle(bundle_dir), request("refund_ticket", "payments.refund",
                                                        {"order_id": "o", "amount_usd": 5}, step=2))
    assert verdict.decision == Decision.DENY
    assert "fail closed" in verdict.reason


def switch(kind: ControlKind, scope: str, at: datetime = T0) -> Control:
    return Control(kind=kind, scope=scope, active=True, actor="oncall@acme", reason="incident 42", at=at)


@pytest.mark.parametrize("scope", ["global", "tenant:acme", "workflow:refund_ticket", "tool:payments",
                                   "tool:payments.refund"])
def test_each_kill_switch_scope_denies_naming_the_switch(scope: str) -> None:
    switches = Switches()
    switches.apply(switch(ControlKind.KILL, scope))
    verdict = evaluate(BUNDLE, request("refund_ticket", "payments.refund", {"order_id": "o", "amount_usd": 5},
                                       at=T0 + timedelta(seconds=1)), switches)
    assert verdict.decision == Decision.DENY
    assert f"kill switch {scope} set by oncall@acme" in verdict.reason
    assert f"switch:kill:{scope}" in verdict.policy_ids
    other = evaluate(BUNDLE, request("refund_ticket", "payments.refund", {"order_id": "o", "amount_usd": 5},
                                     tenant="globex", at=T0 + timedelta(seconds=1)), switches)
    assert (other.decision == Decision.DENY) == (scope != "tenant:acme")


def test_a_revived_switch_no_longer_denies() -> None:
    switches = Switches()
    switches.apply(switch(ControlKind.KILL, "tenant:acme"))
    switches.apply(Control(kind=ControlKind.KILL, scope="tenant:acme", active=False, actor="oncall@acme",
                           reason="fixed", at=T0 + timedelta(minutes=5)))
    verdict = evaluate(BUNDLE, request("refund_ticket", "crm.lookup", {"customer_id": "c"}), switches)
    assert verdict.decision == Decision.ALLOW


def test_read_only_mode_keeps_read_only_tools() -> None:
    switches = Switches()
    switches.apply(switch(ControlKind.READ_ONLY, "tenant:acme"))
    lookup = evaluate(BUNDLE, request("refund_ticket", "crm.lookup", {"customer_id": "c"}), switches)
    refund = evaluate(BUNDLE, request("refund_ticket", "payments.refund", {"order_id": "o", "amount_usd": 5}),
                      switches)
    assert lookup.decision == Decision.ALLOW
    assert refund.decision == Decision.DENY and "read-only mode tenant:acme" in refund.reason
    assert not switches.is_enabled("acme", "refund_ticket", "payments", "refund", frozenset({"crm.lookup"}))
    assert switches.is_enabled("acme", "refund_ticket", "crm", "lookup", frozenset({"crm.lookup"}))


def test_an_operators_switch_refuses_backdated_calls_too() -> None:
    switches = Switches()
    switches.apply(switch(ControlKind.KILL, "global"))
    for at in (T0 - timedelta(minutes=1), datetime(1970, 1, 1, tzinfo=UTC)):
        verdict = evaluate(BUNDLE, request("refund_ticket", "crm.lookup", {"customer_id": "c"}, at=at), switches)
        assert verdict.decision == Decision.DENY


def test_a_stop_ship_switch_does_not_reach_back_before_its_event() -> None:
    switches = Switches()
    switches.apply(Control(kind=ControlKind.KILL, scope="workflow:refund_ticket", active=True,
                           actor=STOP_SHIP_ACTOR, reason="stop-ship", at=T0))
    earlier = evaluate(BUNDLE, request("refund_ticket", "crm.lookup", {"customer_id": "c"},
                                       at=T0 - timedelta(seconds=1)), switches)
    later = evaluate(BUNDLE, request("refund_ticket", "crm.lookup", {"customer_id": "c"}, at=T0), switches)
    assert (earlier.decision, later.decision) == (Decision.ALLOW, Decision.DENY)


def test_approval_is_only_asked_for_calls_that_would_otherwise_be_allowed(tmp_path: Path) -> None:
    bundle_dir = tmp_path / "bundle"
    shutil.copytree(DEFAULT_POLICIES, bundle_dir)
    source = bundle_dir / "reference.cedar"
    # Only lookups are permitted now; the refund approval rule stays.
    source.write_text(source.read_text().replace(
        "permit (principal, action, resource)\nwhen { context.run.tool_in_inventory };",
        'permit (principal, action == Action::"crm.lookup", resource)\nwhen { context.run.tool_in_inventory };'))
    bundle = load_bundle(bundle_dir)
    small = evaluate(bundle, request("refund_ticket", "payments.refund", {"order_id": "o", "amount_usd": 5}))
    large = evaluate(bundle, request("refund_ticket", "payments.refund", {"order_id": "o", "amount_usd": 500}))
    assert small.decision == Decision.DENY
    assert large.decision == Decision.DENY  # a human approving it would allow what no policy permits
    assert "no policy permits" in large.reason


@pytest.mark.parametrize("agent_id", ['refund-bot "eu"', "refund-bot\nv2", "plain"])
def test_ids_with_quotes_or_newlines_are_decided_not_failed(agent_id: str) -> None:
    """Agent, tenant and resource ids are data: Cedar's surface syntax would fail on a quote (every
    such call denied as an evaluation error), so they reach Cedar as structured uids."""
    verdict = evaluate(BUNDLE, PolicyRequest(tenant_id='acme "eu"', workflow="refund_ticket", agent_id=agent_id,
                                             tool="payments", action="refund", resource='order "7"',
                                             params={"order_id": "o", "amount_usd": 5}))
    assert verdict.decision == Decision.ALLOW, verdict.reason


def test_entities_cedar_refuses_deny_the_call_naming_the_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(agent_id: str, tenant_id: str) -> None:
        raise ValueError("entity uid is not valid")

    monkeypatch.setattr("warden.policy.engine.agent_entities", refuse)
    verdict = evaluate(BUNDLE, request("refund_ticket", "crm.lookup", {"customer_id": "c"}))
    assert verdict.decision == Decision.DENY
    assert "fail closed" in verdict.reason and "'a1'" in verdict.reason


def test_params_are_checked_before_cedar_and_amounts_are_never_rounded() -> None:
    """Issue 13: 100.00004 reached Cedar as decimal("100.0000") (rounded down, allowed); now refused."""
    for amount in (100.00004, Decimal("100.00004"), 10**15, Decimal("1e15")):
        verdict = evaluate(BUNDLE, request("refund_ticket", "payments.refund", {"order_id": "o", "amount_usd": amount}))
        assert verdict.decision == Decision.DENY, amount
        assert verdict.reason.startswith("invalid params: params.amount_usd") and "cedar_decimal" in verdict.reason
    exact = evaluate(BUNDLE, request("refund_ticket", "payments.refund",
                                     {"order_id": "o", "amount_usd": Decimal("100.0001")}))
    assert exact.decision == Decision.REQUIRE_APPROVAL


def test_a_value_cedar_raises_on_denies_instead_of_raising() -> None:
    verdict = evaluate(BUNDLE, PolicyRequest(tenant_id="acme", workflow="refund_ticket", agent_id="a\ud800",
                                             tool="crm", action="lookup", resource="r\udc00",
                                             params={"customer_id": "c"}))
    assert verdict.decision == Decision.DENY and "fail closed" in verdict.reason
