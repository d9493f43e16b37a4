"""What the ledger must not keep is replaced before storage and counted; everything an auditor needs is kept.

The ledger is immutable, so both failure modes are permanent: a leak stays for the retention
period, and an amount or id eaten by an over-eager pattern is lost to every later audit.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from typing import Any

import pytest

from warden.core.redaction import TOKENS, Redaction, luhn_ok, redact, redact_many


def redacted(text: str, kind: str, n: int = 1) -> str:
    """Redact, check the count and the token, and that JSON stayed JSON; return the text."""
    result = redact(text)
    assert result.counts == {kind: n}, result
    assert result.total == n
    assert result.text is not None
    assert result.text.count(TOKENS[kind]) == n, result.text
    json.loads(result.text)
    return result.text


CASES: dict[str, list[str]] = {
    "email": [
        '{"to": "jane.doe@example.com"}',
        '{"to": "Jane Doe <jane+refunds@mail.example.co.uk>"}',
        '{"cc": "ops_team-1@sub.example.io", "subject": "hi"}',
    ],
    "card": [
        '{"card": "4111 1111 1111 1111"}',
        '{"card": "4111111111111111"}',
        '{"card": "5500-0000-0000-0004"}',
        '{"card": "3782 822463 10005"}',  # Amex grouping, 15 digits
        '{"card": "6011111111111117"}',
        '{"note": "card 4111 1111 1111 1111 exp 12 27"}',  # expiry glued on by a space
    ],
    "phone": [
        '{"phone": "+1 415 555 0100"}',
        '{"phone": "+1 (415) 555-0100"}',
        '{"phone": "(415) 555-0100"}',
        '{"phone": "415-555-0100"}',
        '{"phone": "415.555.0100"}',
        '{"phone": "415 555 0100"}',
        '{"phone": "+447911123456"}',
        '{"phone": "+44 20 7946 0958"}',
        '{"phone": "020 7946 0958"}',
        '{"uri": "tel:+14155550100"}',
    ],
    "national_id": [
        '{"ssn": "123-45-6789"}',
        '{"note": "SSN 987-65-4321 on file"}',
    ],
    "secret": [
        '{"auth": "Bearer abcdefghijklmnop.qrstuvwxyz"}',
        '{"headers": "authorization: bearer 0123456789abcdef0123"}',
        '{"key": "sk-proj-abcdefghijklmnopqrstuv"}',
        '{"key": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"}',
        '{"stripe": "sk_live_4eC39HqLyjWDarjtT1zdp7dc"}',
        '{"aws": "AKIAIOSFODNN7EXAMPLE"}',
        '{"gh": "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}',
        '{"slack": "xoxb-123456789012-abcdefghijkl"}',
        '{"jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"}',
        '{"api_key": "abcd1234efgh"}',
        '{"x-api-key": "abcd1234efgh"}',
        '{"client_secret": "s3cr3t value with spaces"}',
        '{"access_token": "opaque"}',
        '{"Password": "hunter2"}',
        '{"password": 12345678}',  # a JSON number: the token is quoted so the JSON stays JSON
        '{"h": "Authorization: Basic dXNlcjpwYXNzd29yZA=="}',
        '{"url": "https://api.example.com/v1?user=bob&token=abc123def"}',
        '{"body": "{\\"password\\": \\"hunter2\\", \\"n\\": 1}"}',  # JSON inside a JSON string
    ],
}


@pytest.mark.parametrize(
    ("kind", "text"), [(kind, text) for kind, texts in CASES.items() for text in texts]
)
def test_each_kind_is_redacted_and_counted(kind: str, text: str) -> None:
    redacted(text, kind)


def test_only_the_value_of_a_secret_pair_goes() -> None:
    text = redacted('{"api_key": "abcd1234efgh", "user": "bob"}', "secret")
    assert json.loads(text) == {"api_key": "[REDACTED:secret]", "user": "bob"}
    # Not JSON, still redacted: query strings, Python reprs, headers.
    assert redact("password=hunter22&user=bob") == Redaction("password=[REDACTED:secret]&user=bob", {"secret": 1})
    assert redact("{'password': 'hunter2'}").text == "{'password': '[REDACTED:secret]'}"
    assert redact("Authorization: Bearer abcdefghijklmnop").text == "Authorization: [REDACTED:secret]"


def test_a_secret_found_by_shape_under_a_secret_key_counts_once() -> None:
    text = redacted('{"api_key": "sk-proj-abcdefghijklmnopqrstuv"}', "secret")
    assert json.loads(text) == {"api_key": "[REDACTED:secret]"}


def test_several_of_a_kind_are_each_counted() -> None:
    text = redacted('{"to": "a@x.io", "cc": ["b@y.io", "c@z.io"]}', "email", 3)
    assert json.loads(text) == {"to": TOKENS["email"], "cc": [TOKENS["email"]] * 2}


@pytest.mark.parametrize("text", [
    '{"order_id": "ord_100234", "amount_usd": 120.5, "id": 100234}',
    '{"order_id": 100234, "amount_usd": 1250000.75, "amount": "$1,234,567.89"}',
    '{"row_count": 1500000, "report": "churn"}',
    '{"at": "2026-11-24T09:30:01.123Z", "date": "2026-11-24", "us_date": "11/24/2026"}',
    '{"ts": 1732440601123, "ts_us": 1732440601123456, "ts_s": 1732440601}',  # epoch ms/us pass Luhn or not
    '{"tz": "2026-11-24T09:30:01+05:30", "delta": "+100.50", "pct": "+12.5%"}',
    '{"number": "4111 1111 1111 1112"}',  # fails the Luhn check: not a card
    '{"number": "4111111111111112"}',
    '{"amount": 4111111111111.11}',  # a decimal, whatever its digits
    '{"customer_id": "cus_48213", "ticket": "T-4821", "call_id": "c-0001"}',
    '{"ip": "192.168.100.123", "version": "3.100.2000", "build": "v1.20.341"}',
    '{"event_id": "3f2b6c1e-4a5d-4e8f-9b7a-123456789012"}',
    '{"sha256": "57227347134497f9d753c176340ebb7809fcda01a8df304e1e51ed38821bf608"}',
    '{"input_tokens": 812, "max_tokens": 4096, "token_count": 5, "output_tokens": 96}',
    '{"idempotency_key": "k-1", "keyboard": "us", "monkey": 1, "passport": "no"}',
    '{"secret": null, "token": true, "password": false, "api_key": ""}',
    '{"path": "/api/v1/orders/58464663", "range": "100-200"}',
    '{"mention": "@oncall please look", "handle": "@bob"}',
    '{"zip": "94103-1234", "isbn": "978-3-16-148410-0"}',
])
def test_what_an_auditor_needs_is_kept(text: str) -> None:
    result = redact(text)
    assert result.counts == {}, result
    assert result.text == text


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert luhn_ok("4111 1111 1111 1111")
    assert luhn_ok("378282246310005")
    assert not luhn_ok("4111111111111112")
    assert not luhn_ok("411111")  # too short to be a card
    assert not luhn_ok("0" * 20)  # too long


def test_a_card_as_a_bare_json_number_becomes_a_json_string() -> None:
    text = redacted('{"card": 4111111111111111, "n": 5}', "card")
    assert json.loads(text) == {"card": TOKENS["card"], "n": 5}
    assert json.loads(redacted("[4111111111111111]", "card")) == [TOKENS["card"]]
    assert json.loads(redacted("4111111111111111", "card")) == TOKENS["card"]


def test_secrets_go_before_cards_and_cards_before_phones() -> None:
    """Each value is counted once, as the first kind in the contract's order that claims it."""
    text = redacted('{"password": "4111 1111 1111 1111"}', "secret")
    assert json.loads(text) == {"password": TOKENS["secret"]}
    assert json.loads(redacted('{"n": "4111 1111 1111 1111"}', "card")) == {"n": TOKENS["card"]}


@pytest.mark.parametrize(("text", "kind"), [
    ('{"note": "line one\\njane@example.com"}', "email"),
    ('{"note": "call\\n415-555-0100"}', "phone"),
    ('{"note": "tel\\u00a0+1 415 555 0100"}', "phone"),
    ('{"note": "Zo\\u00eb.smith@example.com"}', "email"),
    ('{"note": "caf\\u00e94111 1111 1111 1111"}', "card"),
    ('{"note": "id\\t123-45-6789"}', "national_id"),
    ('{"note": "x\\nBearer abcdefghijklmnop.qrstuvwxyz"}', "secret"),
    ('{"note": "\\"a@b.io\\""}', "email"),
    ('{"note": "C:\\\\dir\\\\jane@example.com"}', "email"),
])
def test_json_escapes_around_a_value_stay_valid(text: str, kind: str) -> None:
    """A match never starts inside an escape such as \\n or \\u00e9, which would leave a broken escape."""
    note = json.loads(redacted(text, kind))["note"]
    assert note.endswith(TOKENS[kind]) or f"{TOKENS[kind]}\"" in note, note


def test_none_and_empty_pass_through() -> None:
    assert redact(None) == Redaction(None, {})
    assert redact("") == Redaction("", {})
    assert redact(None).total == 0


def test_the_result_is_frozen() -> None:
    result = redact('{"to": "a@b.io"}')
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.text = "changed"  # type: ignore[misc]


def test_redact_many_merges_counts() -> None:
    texts, counts = redact_many(
        None, '{"a": "x@y.io", "b": "z@w.io"}', '{"c": "123-45-6789", "d": "q@r.io"}', '{"n": 1}'
    )
    assert texts[0] is None
    assert texts[3] == '{"n": 1}'
    assert counts == {"email": 3, "national_id": 1}
    assert redact_many() == ([], {})


PLANTED: dict[str, list[str]] = {
    "email": ["jane.doe@example.com", "zoë.smith@example.co.uk", "a+tag@x.io"],
    "card": ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011111111111117"],
    "phone": ["+1 415 555 0100", "(415) 555-0100", "415-555-0100", "+447911123456", "020 7946 0958"],
    "national_id": ["123-45-6789", "987-65-4321"],
    "secret": ["Bearer abcdefghijklmnop.qrstuvwxyz", "sk-proj-abcdefghijklmnopqrstuv", "AKIAIOSFODNN7EXAMPLE",
               "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "xoxb-123456789012-abcdefghij"],
}
SEPARATORS = [" ", "\n", "\t", ": ", "=", ", ", '"', "'", "\\", "/", "<", ">", "(", ")", " é ", "\u00a0", "\u2603"]
ORDINARY = ["refund", "ord_100234", "120.50", "2026-11-24", "2026-11-24T09:30:01Z", "T-4821", "42", "ok"]


def strings_in(value: Any) -> list[str]:
    """Every string in a decoded document, and in JSON documents nested inside its strings."""
    if isinstance(value, str):
        try:
            nested = json.loads(value)
        except ValueError:
            return [value]
        return [value, *strings_in(nested)] if not isinstance(nested, str) else [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings_in(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def test_random_documents_stay_json_and_keep_nothing_planted() -> None:
    """Seeded fuzzing: PII and secrets next to escapes, quotes, non-ASCII, in keys, lists and nested JSON."""
    rng = random.Random(20261124)

    def text(planted: list[str]) -> str:
        parts = []
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.5:
                value = rng.choice(PLANTED[rng.choice(list(PLANTED))])
                planted.append(value)
                parts.append(value)
            else:
                parts.append(rng.choice(ORDINARY))
            parts.append(rng.choice(SEPARATORS))
        return rng.choice([" ", ""]).join(parts)

    def value(depth: int, planted: list[str]) -> Any:
        r = rng.random()
        if depth > 2 or r < 0.5:
            return text(planted)
        if r < 0.6:
            return rng.choice([1, 120.5, None, True, 1732440601123, -5])
        if r < 0.8:
            return [value(depth + 1, planted) for _ in range(rng.randint(0, 3))]
        keys = ["to", "note", "password", "api_key", "id", text(planted)]
        return {rng.choice(keys): value(depth + 1, planted) for _ in range(rng.randint(0, 3))}

    for _ in range(1500):
        planted: list[str] = []
        document = json.dumps(value(0, planted), ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 2]))
        if rng.random() < 0.3:
            document = json.dumps({"body": document, "n": 1})
        result = redact(document)
        assert result.text is not None
        out = json.loads(result.text)  # raises if the redaction broke the JSON
        kept = strings_in(out)
        for secret in planted:
            assert not any(secret in s for s in kept), (secret, document, result.text)


@pytest.mark.parametrize("text", [
    "a@" * 10_000,
    "@" * 20_000,
    "a" * 20_000 + "@example.com",
    "a+11111111111111111111" * 900,
    "4" + " 1" * 10_000,
    "4111 " * 4_000,
    "token=" * 3_000,
    'password: "' * 2_000,
    "(" * 20_000,
    "\\" * 20_000,
    "\\u00e9" * 3_000,
    json.dumps(list(range(4_000))),
    "+1 415 555 0100 jane@x.io 4111111111111111 123-45-6789 " * 300,
])
def test_no_pathological_input_takes_long(text: str) -> None:
    """Tool outputs are attacker-influenced: no input may make a pattern backtrack for seconds."""
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 1.0
