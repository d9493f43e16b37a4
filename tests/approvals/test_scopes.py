"""Approver scopes: the original token form keeps its rights, the scoped form limits tenants and switches."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError as PydanticValidationError

from tests.approvals.test_processor import request
from tests.core.samples import AT
from warden.approvals.processor import ApprovalsState, ScopeError, apply, decide
from warden.approvals.scopes import ApproverGrant, refusal_alert
from warden.approvals.settings import ApprovalsSettings
from warden.core.records import ApprovalOutcome

SCOPED = {"dana@acme.com": "tok-dana",
          "sam@globex.com": {"token": "tok-sam", "tenants": ["globex"]},
          "olga@ops.com": {"token": "tok-olga", "tenants": ["*"], "global_switches": True}}


def settings(monkeypatch: pytest.MonkeyPatch, tokens: object) -> ApprovalsSettings:
    monkeypatch.setenv("WARDEN_APPROVER_TOKENS", json.dumps(tokens))
    return ApprovalsSettings()


def test_both_forms_load_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    grants = settings(monkeypatch, SCOPED).grants()
    assert grants["dana@acme.com"].token.get_secret_value() == "tok-dana"
    assert (grants["dana@acme.com"].tenants, grants["dana@acme.com"].global_switches) == (["*"], True)
    assert (grants["sam@globex.com"].tenants, grants["sam@globex.com"].global_switches) == (["globex"], False)
    assert grants["olga@ops.com"].global_switches
    assert settings(monkeypatch, SCOPED).approver_tokens_env() == {
        "dana@acme.com": "tok-dana", "sam@globex.com": {"token": "tok-sam", "tenants": ["globex"],
                                                        "global_switches": False},
        "olga@ops.com": {"token": "tok-olga", "tenants": ["*"], "global_switches": True}}


@pytest.mark.parametrize("bad", [{"token": "t"}, {"token": "t", "tenants": []},
                                 {"token": "t", "tenants": ["a"], "switches": True}])
def test_a_scoped_entry_must_name_its_tenants_and_nothing_else(monkeypatch: pytest.MonkeyPatch, bad: object) -> None:
    with pytest.raises(PydanticValidationError):
        settings(monkeypatch, {"x@y.com": bad})


def test_switches_beyond_one_tenant_need_global_switches() -> None:
    sam = ApproverGrant(token="t", tenants=["globex"])
    assert sam.switch_refusal("tenant:globex") is None
    assert "not one of this approver's tenants" in (sam.switch_refusal("tenant:acme") or "")
    for scope in ("global", "workflow:refund_ticket", "tool:payments", "tool:payments.refund"):
        assert "may not set global switches" in (sam.switch_refusal(scope) or ""), scope
    olga = ApproverGrant(token="t", tenants=["*"], global_switches=True)
    assert all(olga.switch_refusal(s) is None for s in ("global", "tenant:acme", "workflow:w", "tool:t"))


def test_a_decision_outside_the_scope_is_refused_with_403_before_anything_else() -> None:
    state = apply(ApprovalsState(), request("c1"))  # tenant acme
    sam = ApproverGrant(token="t", tenants=["globex"])
    with pytest.raises(ScopeError, match="sam may decide for tenants \\['globex'\\]; call c1 is tenant acme's") as err:
        decide(state, "c1", "sam", ApprovalOutcome.APPROVED, "", AT, sam)
    assert (err.value.status, err.value.tenant_id) == (403, "acme")
    dana = ApproverGrant(token="t", tenants=["acme"])
    done = decide(state, "c1", "dana", ApprovalOutcome.APPROVED, "ok", AT, dana)
    apply(state, done)
    with pytest.raises(ScopeError):  # decided calls keep their tenant: no 409 naming who decided
        decide(state, "c1", "sam", ApprovalOutcome.REJECTED, "no", AT, sam)


def test_a_refusal_is_one_alert_naming_who_what_and_why() -> None:
    sam = ApproverGrant(token="t", tenants=["globex"])
    alert = refusal_alert("sam", "set", "switch global", "*", "reaches every tenant", sam, AT)
    assert (alert.kind.value, alert.rule, alert.severity.value, alert.tenant_id) == (
        "unauthorized_action", "approver_scope", "ticket", "*")
    assert alert.labels["approver"] == "sam" and alert.labels["tenants"] == "globex"
    assert "sam tried to set switch global" in alert.summary
    assert refusal_alert("sam", "set", "switch global", "*", "r", sam, AT).alert_id == alert.alert_id
