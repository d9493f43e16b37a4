"""Redaction before storage: secrets, card numbers, national ids, phone numbers, e-mail addresses.

The ledger keeps what an auditor needs (that a refund went to *someone*) without keeping
what a leak would expose, and it is immutable, so whatever is not redacted on the way in
stays for the retention period. Hence the bias: match generously around what is clearly
personal or secret, but never eat the numbers an auditor needs (amounts, order ids,
dates, timestamps), which is why cards are Luhn-checked and phones need a phone's shape.

Inputs are usually JSON text (tool params and outputs). Replacement tokens contain no
quotes or backslashes and the patterns never start inside a JSON escape, so valid JSON
stays valid JSON; the rare text where a regex would still break it (a card number as a
bare JSON number, a secret in an unusual escape) is redacted value by value instead.

This runs on every event the sink lands, so each pattern is guarded by a cheap test
(digit counts, a substring, an "@") and written to start with a character class, which
lets the regex engine skip ahead instead of trying every position.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

KINDS = ("secret", "card", "national_id", "phone", "email")
TOKENS = {kind: f"[REDACTED:{kind}]" for kind in KINDS}

# --- secrets -----------------------------------------------------------------------------------------

# Start of a token: not glued to a word, except after a JSON escape ("...:\nBearer x", "\u00a0sk-...").
_WORD_START = r"(?:(?<![A-Za-z0-9_])|(?<=\\[nrtbf])|(?<=\\u[0-9A-Fa-f]{4}))"
_SECRET_SHAPES = re.compile(
    _WORD_START
    + r"(?:[Bb]earer\s+[A-Za-z0-9._~+/=-]{12,}"
    r"|sk-(?:proj-|ant-|live_|test_)?[A-Za-z0-9_-]{16,}"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[a-z]-[A-Za-z0-9-]{10,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)"
)

# A key that names a secret must *end* with the secret word: "access_token" yes, "max_tokens" and
# "token_count" no (those are the numbers an LLM cost audit needs).
_SECRET_NAME = (
    r"(?:api[_-]?key|apikey|(?:access|secret|private|signing|encryption|master|client)[_-]?key"
    r"|secret|token|password|passwd|passphrase|authorization|credentials?|cookie)"
)
_SECRET_KEY = re.compile(r"[A-Za-z0-9_.-]*?" + _SECRET_NAME, re.IGNORECASE)
_SECRET_PAIR = re.compile(
    r"(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]*?" + _SECRET_NAME + r"(?P<kq>\\?[\"'])?\s*[:=]\s*"
    r"(?:\"(?P<dq>(?:[^\"\\]|\\.)*)\""  # a JSON string
    r"|\\\"(?P<edq>(?:[^\"\\]|\\[^\"])*)\\\""  # a JSON string inside a JSON string
    r"|'(?P<sq>[^'\\\n]*)'"
    r"|(?P<bare>(?:(?:Basic|Bearer|Token|Digest)\s+)?[^\s\"'`,;&(){}\[\]\\]+))",
    re.IGNORECASE,
)
_LITERALS = frozenset({"null", "true", "false", "none"})
_ONLY_TOKENS = re.compile(r"(?:\s*\[REDACTED:[a-z_]+\])+\s*")

# --- numbers -----------------------------------------------------------------------------------------

_AT_LEAST_8_DIGITS = re.compile(r"(?:\D*\d){8}")
_AT_LEAST_13_DIGITS = re.compile(r"(?:\D*\d){13}")

# A run of digits with single spaces or dashes between them, starting with 2-6 (the card networks'
# range: Mastercard 2/5, Amex/Diners/JCB 3, Visa 4, Discover/UnionPay 6), which leaves out epoch
# timestamps in ms and us (they start with 1) whatever their check digit. A run glued to more
# digits (a longer number, a decimal, a dashed id) is not a card. _cards finds the 13-19 digit,
# Luhn-valid cards inside the run.
_CARD = re.compile(
    r"[2-6](?:(?<![\d.-][2-6])(?<!\\u[2-6])|(?<=\\u[0-9A-Fa-f]{4}[2-6]))(?:[ -]?\d){12,}(?!\d|[ -]\d)"
)
_CARD_SEPARATOR = re.compile(r"([ -])")
_DECIMAL_TAIL = re.compile(r"\.\d")

# 123-45-6789; all-zero groups are placeholders, never issued.
_SSN = re.compile(r"\d(?:(?<![\d-]\d)|(?<=\\u[0-9A-Fa-f]{4}\d))\d\d-\d\d-\d{4}(?![\d-])")
_SSN_PLACEHOLDER = re.compile(r"000-|\d{3}-00-|\d{3}-\d\d-0000")

# Phones start with "+" not glued to a number, or with "(" or a digit not glued to a word, number
# or decimal; a JSON escape before them is a boundary ("\n415-555-0100", "\u00a0+1 415...").
_PHONE = re.compile(
    r"[+(\d](?:(?<=\+)(?<![\d+]\+)|(?<![\w+.-][(\d])|(?<=\\[nrtbf][(\d])|(?<=\\u[0-9A-Fa-f]{4}[(\d]))"
    r"(?:(?<=\+)\d{1,3}(?:[ .-]?\(\d{1,4}\))?[ .-]?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"  # +1 415 555 0100, +447911123456
    r"|(?<=\()\d{3}\)[ .-]?\d{3}[ .-]?\d{4}"  # (415) 555-0100
    r"|(?<=[2-9])\d{2}(?P<sep>[.-])\d{3}(?P=sep)\d{4}"  # 415-555-0100, 415.555.0100
    r"|(?<=[2-9])\d{2} [2-9]\d{2} \d{4}"  # 415 555 0100
    r"|(?<=0)\d{1,4}[ -]\d{3,4}[ -]?\d{3,4})"  # 020 7946 0958, 07911 123456
    r"(?![\w-]|[.,]\d)"
)
_PHONE_BREAK = re.compile(r"[ .-]")
_PHONE_DIGITS = {"+": (8, 15), "(": (10, 10)}  # E.164 allows at most 15 digits
_NATIONAL_DIGITS = (10, 11)

# --- e-mail ------------------------------------------------------------------------------------------

# A \uXXXX escape is part of the local part ("Zo\u00eb@..."), so a match never starts inside one.
_EMAIL_DOMAIN = r"@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])"
_EMAIL = re.compile(
    r"(?:(?<![\w.%+-])(?<!(?<!\\)\\)|(?<=\\[nrtbf])|(?<=\\u[0-9A-Fa-f]{4}))"
    r"(?:[\w.%+-]|\\u[0-9A-Fa-f]{4})++" + _EMAIL_DOMAIN
)
# In decoded strings (the value-by-value path) a backslash is just a character.
_EMAIL_DECODED = re.compile(r"(?<![\w.%+-])[\w.%+-]++" + _EMAIL_DOMAIN)


def _may_hold_a_shape(text: str) -> bool:
    """Substrings every secret shape contains: `in` is far cheaper than a failed scan of _SECRET_SHAPES."""
    return (
        "earer" in text or "sk-" in text or "k_live_" in text or "k_test_" in text or "eyJ" in text
        or "AKIA" in text or "ASIA" in text or "xox" in text or ("gh" in text and (
            "ghp_" in text or "gho_" in text or "ghu_" in text or "ghs_" in text or "ghr_" in text
            or "github_pat_" in text
        ))
    )


def _may_name_a_secret(lowered: str) -> bool:
    return (
        "key" in lowered or "secret" in lowered or "token" in lowered or "passw" in lowered
        or "passphrase" in lowered or "authorization" in lowered or "credential" in lowered
        or "cookie" in lowered
    )


def luhn_ok(number: str) -> bool:
    """The check digit every payment card carries; a random digit run passes one time in ten."""
    digits = [ord(c) - 48 for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


@dataclass(frozen=True)
class Redaction:
    """The stored text and what was taken out of it; the counts are landed beside the text."""

    text: str | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _count(counts: dict[str, int], kind: str, n: int) -> None:
    if n:
        counts[kind] = counts.get(kind, 0) + n


def _secret_pair(match: re.Match[str], counts: dict[str, int]) -> str:
    for group in ("dq", "edq", "sq", "bare"):
        value = match.group(group)
        if value is not None:
            break
    if not value or value.lower() in _LITERALS or _ONLY_TOKENS.fullmatch(value):
        return match.group(0)
    counts["secret"] = counts.get("secret", 0) + 1
    start, end = match.span(group)
    token = TOKENS["secret"]
    quote = match.group("kq") or ""
    if group == "bare" and quote.endswith('"') and value.isdigit():
        token = f"{quote}{token}{quote}"  # a JSON number after a JSON key: keep the document JSON
    whole = match.group(0)
    offset = match.start()
    return whole[: start - offset] + token + whole[end - offset :]


def _cards(match: re.Match[str], counts: dict[str, int]) -> str:
    run = match.group(0)
    decimal = _DECIMAL_TAIL.match(match.string, match.end()) is not None  # the last group is "120" of "120.50"
    if not decimal and luhn_ok(run):
        counts["card"] = counts.get("card", 0) + 1
        return TOKENS["card"]
    # More groups than one card ("4111 1111 1111 1111 12 27", "ref 2024 4111 1111 1111 1111"):
    # the longest Luhn-valid window of whole groups, from each group on.
    parts = _CARD_SEPARATOR.split(run)
    groups, separators = parts[0::2], parts[1::2]
    usable = len(groups) - 1 if decimal else len(groups)
    out: list[str] = []
    i = 0
    while i < len(groups):
        end = None
        if i < usable and groups[i][0] in "23456":
            digits = 0
            for j in range(i, usable):
                digits += len(groups[j])
                if digits > 19:
                    break
                if digits >= 13 and luhn_ok("".join(groups[i : j + 1])):
                    end = j
        if end is None:
            out.append(groups[i])
            end = i
        else:
            counts["card"] = counts.get("card", 0) + 1
            out.append(TOKENS["card"])
        if end < len(separators):
            out.append(separators[end])
        i = end + 1
    return "".join(out)


def _phone(match: re.Match[str], counts: dict[str, int]) -> str:
    text = match.group(0)
    low, high = _PHONE_DIGITS.get(text[0], _NATIONAL_DIGITS)
    digits = sum(c.isdigit() for c in text)
    if low <= digits <= high:
        counts["phone"] = counts.get("phone", 0) + 1
        return TOKENS["phone"]
    if text[0] == "+" and digits > high:
        # Two numbers in a row ("+44 7911 123456 020 7946 0958"): the longest leading part that is one.
        for cut in reversed([m.start() for m in _PHONE_BREAK.finditer(text)]):
            if low <= sum(c.isdigit() for c in text[:cut]) <= high:
                counts["phone"] = counts.get("phone", 0) + 1
                return TOKENS["phone"] + _PHONE.sub(lambda m: _phone(m, counts), text[cut:])
    return text


def _ssn(match: re.Match[str], counts: dict[str, int]) -> str:
    if _SSN_PLACEHOLDER.match(match.group(0)):
        return match.group(0)
    counts["national_id"] = counts.get("national_id", 0) + 1
    return TOKENS["national_id"]


def _redact_text(text: str, counts: dict[str, int], email: re.Pattern[str] = _EMAIL) -> str:
    """Every pattern in the contract's order: secrets, cards (before phones eat them), ids, phones, e-mail."""
    if _may_hold_a_shape(text):
        text, n = _SECRET_SHAPES.subn(TOKENS["secret"], text)
        _count(counts, "secret", n)
    if _may_name_a_secret(text.lower()):
        text = _SECRET_PAIR.sub(lambda m: _secret_pair(m, counts), text)
    if _AT_LEAST_8_DIGITS.match(text):
        if _AT_LEAST_13_DIGITS.match(text):
            text = _CARD.sub(lambda m: _cards(m, counts), text)
        if "-" in text:
            text = _SSN.sub(lambda m: _ssn(m, counts), text)
        text = _PHONE.sub(lambda m: _phone(m, counts), text)
    if "@" in text:
        text, n = email.subn(TOKENS["email"], text)
        _count(counts, "email", n)
    return text


def _redact_value(value: Any, counts: dict[str, int]) -> Any:
    """The slow, exact path for JSON the text path would break: redact decoded values one by one."""
    if isinstance(value, str):
        return _redact_text(value, counts, _EMAIL_DECODED)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _redact_text(key, counts, _EMAIL_DECODED)
            secret = (
                _SECRET_KEY.fullmatch(key) is not None
                and isinstance(item, str | int | float)
                and not isinstance(item, bool)
                and item != ""
                and not (isinstance(item, str) and _ONLY_TOKENS.fullmatch(item))
            )
            if secret:
                counts["secret"] = counts.get("secret", 0) + 1
                out[name] = TOKENS["secret"]
            else:
                out[name] = _redact_value(item, counts)
        return out
    if isinstance(value, list):
        return [_redact_value(item, counts) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        digits = str(value)
        if _CARD.fullmatch(digits) and luhn_ok(digits):
            counts["card"] = counts.get("card", 0) + 1
            return TOKENS["card"]
    return value


def _still_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def redact(text: str | None) -> Redaction:
    """Redact one stored text (tool params, output, state change); None and "" pass through."""
    if not text:
        return Redaction(text, {})
    counts: dict[str, int] = {}
    out = _redact_text(text, counts)
    if counts and not _still_json(out):
        try:
            parsed = json.loads(text)
        except ValueError:
            return Redaction(out, counts)  # not JSON to begin with: nothing to keep valid
        counts = {}
        out = json.dumps(_redact_value(parsed, counts), ensure_ascii=False)
    return Redaction(out, counts)


def redact_many(*texts: str | None) -> tuple[list[str | None], dict[str, int]]:
    """Redact the texts of one record together, so the ledger row carries one merged count."""
    out: list[str | None] = []
    counts: dict[str, int] = {}
    for text in texts:
        result = redact(text)
        out.append(result.text)
        for kind, n in result.counts.items():
            counts[kind] = counts.get(kind, 0) + n
    return out, counts
