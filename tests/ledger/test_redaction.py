"""What the ledger must not keep is replaced before storage, and counted; everything else is kept."""

from __future__ import annotations

import json

import pytest

from warden.ledger.redaction import luhn_ok, redact, redact_many


@pytest.mark.parametrize(("text", "kind"), [
    ('{"to": "jane.doe@example.com"}', "email"),
    ('{"card": "4111 1111 1111 1111"}', "card"),
    ('{"card": "5500-0000-0000-0004"}', "card"),
    ('{"phone": "+1 415 555 0100"}', "phone"),
    ('{"phone": "(415) 555-0100"}', "phone"),
    ('{"phone": "415-555-0100"}', "phone"),
    ('{"phone": "+447911123456"}', "phone"),
    ('{"ssn": "123-45-6789"}', "national_id"),
    ('{"auth": "Bearer abcdefghijklmnop.qrstuvwxyz"}', "secret"),
    ('{"key": "sk-proj-abcdefghijklmnopqrstuv"}', "secret"),
    ('{"aws": "AKIAIOSFODNN7EXAMPLE"}', "secret"),
    ('{"api_key": "abcd1234efgh"}', "secret"),
    ('{"jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"}',
     "secret"),
])
def test_each_kind_is_redacted_counted_and_json_stays_json(text: str, kind: str) -> None:
    result = redact(text)
    assert result.counts == {kind: 1}, result
    assert f"[REDACTED:{kind}]" in str(result.text)
    json.loads(str(result.text))


@pytest.mark.parametrize("text", [
    '{"order_id": "ord_100234", "amount_usd": 120.5}',
    '{"row_count": 1500000, "report": "churn"}',
    '{"at": "2026-11-24T09:30:01.123Z", "date": "2026-11-24"}',
    '{"number": "4111 1111 1111 1112"}',  # fails the Luhn check: not a card
    '{"customer_id": "cus_48213", "ticket": "T-4821"}',
])
def test_ordinary_values_are_kept(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.total == 0


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
    assert not luhn_ok("411111")


def test_none_passes_through_and_counts_merge() -> None:
    texts, counts = redact_many(None, '{"a": "x@y.io", "b": "z@w.io"}', '{"c": "123-45-6789"}')
    assert texts[0] is None
    assert counts == {"email": 2, "national_id": 1}
