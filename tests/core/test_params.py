"""The one strict params check (warden.core.params) the evaluator, the proxy, replay and the eval harness share."""

from __future__ import annotations

from decimal import Decimal

import pytest

from warden.core.params import REDACTED, cedar_decimal, check_params, default_tool_schemas
from warden.core.redaction import TOKENS


def test_valid_params_have_no_errors_and_each_broken_rule_is_named() -> None:
    assert check_params("payments", "refund", {"order_id": "o", "amount_usd": 42.5}) == []
    errors = check_params("payments", "refund", {"amount_usd": -1, "extra": True})
    assert {(e.field, e.rule) for e in errors} == {("params.extra", "additionalProperties"),
                                                   ("params.amount_usd", "minimum"), ("params.order_id", "required")}


def test_an_action_the_inventory_does_not_define_has_no_schema_and_is_an_error() -> None:
    [error] = check_params("shell", "exec", {})
    assert error.rule == "inventory" and "shell.exec is not in the tool inventory inventory.yaml" in error.message


@pytest.mark.parametrize(("value", "literal"), [
    (100, "100.0000"), (100.5, "100.5000"), (Decimal("100.00010"), "100.0001"), (Decimal("-0.0001"), "-0.0001"),
    (Decimal("1E+2"), "100.0000"), (0.1, "0.1000"), (Decimal("922337203685477.5807"), "922337203685477.5807"),
    (Decimal("-922337203685477.5808"), "-922337203685477.5808"), (0, "0.0000"),
])
def test_cedar_decimal_is_exact(value: int | float | Decimal, literal: str) -> None:
    assert cedar_decimal(value) == literal


@pytest.mark.parametrize("value", [Decimal("100.00001"), 1e-5, Decimal("922337203685477.5808"), 10**16,
                                   float("inf"), Decimal("NaN"), Decimal("1E+999999999"), Decimal("1E-999999999"),
                                   True])
def test_what_cedar_decimal_cannot_hold_is_refused(value: int | float | Decimal) -> None:
    assert cedar_decimal(value) is None


def test_numbers_anywhere_in_the_params_are_checked() -> None:
    assert check_params("tickets", "update", {"ticket_id": "t", "status": "open", "comment": "c"}) == []
    errors = check_params("payments", "refund", {"order_id": "o", "amount_usd": Decimal("5.00001")})
    assert [(e.field, e.rule) for e in errors] == [("params.amount_usd", "cedar_decimal")]


def test_a_redacted_string_is_waived_only_for_its_format_pattern_and_length() -> None:
    """The proxy checks the real input, then emits it redacted: the stream must reach the same verdict."""
    assert check_params("email", "send", {"to": "[REDACTED:email]", "subject": "s", "body": "b"}) == []
    errors = check_params("iam", "grant_access", {"user": "[REDACTED:email]", "role": "[REDACTED:email]"})
    assert [(e.field, e.rule) for e in errors] == [("params.role", "enum")]
    assert check_params("email", "send", {"to": "not-an-address", "subject": "s", "body": "b"})[0].rule == "email"


def test_the_redaction_marker_is_the_one_the_ledger_writes() -> None:
    assert all(REDACTED.fullmatch(token) for token in TOKENS.values())


def test_the_default_schemas_are_the_reference_inventory() -> None:
    assert default_tool_schemas().input("payments", "refund") is not None
    assert len(default_tool_schemas().inputs) == 7
