"""Redaction before storage: secrets, card numbers, national ids, phone numbers, e-mail addresses.

The ledger is immutable, so whatever is not redacted on the way in stays for the whole
retention period. Hence the bias: match generously around what is clearly personal or
secret, but never eat the numbers an auditor needs (amounts, order ids, dates,
timestamps): cards must pass the Luhn check and phones need a phone's shape.

Inputs are usually JSON text (tool params and outputs). Replacement tokens contain no
quotes or backslashes and the patterns do not start inside a JSON escape, so valid JSON
stays valid JSON. Where a regex would still break it (a card number as a bare JSON
number, a secret glued to an escape), the document is redacted value by value instead.

This runs on every event the sink lands, and most texts contain nothing to redact, so
every pattern sits behind a cheap test (a substring, a digit count, an "@") and starts
with a character class where it can, which lets the regex engine skip ahead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

KINDS = ("secret", "card", "national_id", "phone", "email")
TOKENS = {kind: f"[REDACTED:{kind}]" for kind in KINDS}

# A JSON escape before a token is a boundary, not part of a word: "...:\nBearer x", "\u00a0+1 415...".
_AFTER_ESCAPE = r"(?<=\\[nrtbf])|(?<=\\u[0-9A-Fa-f]{4})"

# --- secrets -----------------------------------------------------------------------------------------

_SECRET_SHAPES = re.compile(
    r"(?:(?<![A-Za-z0-9_])|" + _AFTER_ESCAPE + ")"
    r"(?:[Bb]earer\s+[A-Za-z0-9._~+/=-]{12,}"
    r"|sk-(?:proj-|ant-|live_|test_)?[A-Za-z0-9_-]{16,}"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[a-z]-[A-Za-z0-9-]{10,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)"
)

# A key names a secret when it *ends* with one of these words: "access_token" and "x-api-key" do,
# "max_tokens", "token_count" and "keyboard" do not (token counts are what a cost audit needs).
# A bare "key" is too common ("idempotency_key", "s3 key"), so it needs an owner before it.
_SECRET_WORDS = ("token", "secret", "password", "passwd", "passphrase", "authorization", "credential", "cookie")
_KEY_OWNER = re.compile(r"(?:api|access|secret|private|signing|encryption|master|client)[_-]?\Z")
_SECRET_NAME = (
    r"(?:(?:api|access|secret|private|signing|encryption|master|client)[_-]?key"
    r"|token|secret|password|passwd|passphrase|authorization|credentials?|cookie)"
)
_SECRET_NAME_ANYCASE = re.compile(_SECRET_NAME, re.IGNORECASE)
_SECRET_KEY = re.compile(r"[\w.-]*?" + _SECRET_NAME, re.IGNORECASE)
# What follows the secret's name: the key's closing quote, ":" or "=", then the value.
_SECRET_VALUE = re.compile(
    r"(?P<kq>\\?[\"'])?\s*[:=]\s*"
    r"(?:\"(?P<dq>(?:[^\"\\]|\\.)*)\""  # a JSON string
    r"|\\\"(?P<edq>(?:[^\"\\]|\\[^\"])*)\\\""  # a JSON string inside a JSON string
    r"|'(?P<sq>[^'\"\\\n]*)'"
    r"|(?P<bare>(?:(?:[Bb]asic|[Bb]earer|[Tt]oken|[Dd]igest)\s+)?[^\s\"'`,;&(){}\[\]\\]+))"
)
_VALUE_GROUPS = ("dq", "edq", "sq", "bare")
_LITERALS = frozenset({"null", "true", "false", "none"})
_ONLY_TOKENS = re.compile(r"(?:\s*\[REDACTED:[a-z_]+\])+\s*")

# --- numbers -----------------------------------------------------------------------------------------

_AT_LEAST_8_DIGITS = re.compile(r"(?:\D*\d){8}")

# A run of digits with single spaces or dashes between them, starting with 2-6 (the card networks'
# range: Mastercard 2/5, Amex/Diners/JCB 3, Visa 4, Discover/UnionPay 6), which leaves out epoch
# timestamps in ms and us (they start with 1) whatever their check digit. A run glued to more
# digits or a dash is part of a longer number or an id. _cards finds the 13-19 digit, Luhn-valid
# cards inside the run.
_CARD = re.compile(
    r"[2-6](?:(?<![\d.-][2-6])(?<!\\u[2-6])|(?<=\\u[0-9A-Fa-f]{4}[2-6]))(?:[ -]?\d){12,}(?!\d|[ -]\d)"
)
_CARD_SEPARATOR = re.compile(r"([ -])")
_GLUED_AFTER = re.compile(r"\.\d|[^\W\d]")  # "120" of "120.50", "2b04c1" of a hash
_ESCAPE_BEFORE = re.compile(r"(?:\\[nrtbf]|\\u[0-9A-Fa-f]{4})\Z")

_SSN_HINT = re.compile(r"-\d\d-\d{4}")
_SSN = re.compile(r"\d(?:(?<![\d-]\d)|(?<=\\u[0-9A-Fa-f]{4}\d))\d\d-\d\d-\d{4}(?![\d-])")
_SSN_PLACEHOLDER = re.compile(r"000-|\d{3}-00-|\d{3}-\d\d-0000")  # never issued

# International numbers: a "+" not glued to a number (nor an exponent: 1e+10). The pattern starts
# with a literal, so the scan is cheap; the digit count is checked afterwards (_phone), which is
# what keeps "+100.50" out.
_PHONE_INTERNATIONAL = re.compile(
    r"\+(?:(?<![\d+eE]\+)|(?<=\\u[0-9A-Fa-f]{4}\+))"
    r"\d{1,3}(?:[ .-]?\(\d{1,4}\))?[ .-]?\d{1,4}(?:[ .-]?\d{2,4}){1,4}(?![\w-]|[.,]\d)"
)
# National numbers all have a separator between a digit and three more digits ("5-555", "0 794").
_NATIONAL_HINT = re.compile(r"[ .)-](?<=\d[ .)-])\d{3}")
# "(" or a digit not glued to a word, number or decimal, then one of the common national forms.
_PHONE_NATIONAL = re.compile(
    r"[(\d](?:(?<![\w+.-][(\d])|(?<=\\[nrtbf][(\d])|(?<=\\u[0-9A-Fa-f]{4}[(\d]))"
    r"(?:(?<=\()\d{3}\)[ .-]?\d{3}[ .-]?\d{4}"  # (415) 555-0100
    r"|(?<=[2-9])\d{2}(?P<sep>[.-])\d{3}(?P=sep)\d{4}"  # 415-555-0100, 415.555.0100
    r"|(?<=[2-9])\d{2} [2-9]\d{2} \d{4}"  # 415 555 0100
    r"|(?<=0)\d{1,4}[ -]\d{3,4}[ -]?\d{3,4})"  # 020 7946 0958, 07911 123456
    r"(?![\w-]|[.,]\d)"
)
_PHONE_BREAK = re.compile(r"[ .-]")
_PHONE_DIGITS = {"+": (8, 15), "(": (10, 10)}  # E.164 numbers have at most 15 digits
_NATIONAL_DIGITS = (10, 11)

# --- e-mail ------------------------------------------------------------------------------------------

# A \uXXXX escape is part of the local part ("Zo\u00eb@..."), and a match never starts right after
# a lone backslash (inside an escape such as \n).
_EMAIL_DOMAIN = r"@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])"
_EMAIL = re.compile(
    r"(?:(?<![\w.%+-])(?<!(?<!\\)\\)|" + _AFTER_ESCAPE + ")"
    r"(?:[\w.%+-]|\\u[0-9A-Fa-f]{4})++" + _EMAIL_DOMAIN
)
# In decoded strings (the value-by-value path) a backslash is just a character.
_EMAIL_DECODED = re.compile(r"(?<![\w.%+-])[\w.%+-]++" + _EMAIL_DOMAIN)
_LOCAL_PART_MAX = 128  # RFC 5321 allows 64 characters; escapes take six each
_LOCAL_PART_REVERSED = re.compile(r"(?:[0-9A-Fa-f]{4}u\\|[\w.%+-])+")


@dataclass(frozen=True)
class Redaction:
    """The stored text and what was taken out of it; the counts are landed beside the text."""

    text: str | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


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


def _add(counts: dict[str, int], kind: str, n: int = 1) -> None:
    if n:
        counts[kind] = counts.get(kind, 0) + n


# --- secrets -----------------------------------------------------------------------------------------


def _may_hold_a_shape(text: str) -> bool:
    """Substrings every secret shape contains: `in` is far cheaper than a failed regex scan."""
    return (
        "earer" in text or "sk-" in text or "k_live_" in text or "k_test_" in text or "eyJ" in text
        or "AKIA" in text or "ASIA" in text or "xox" in text
        or ("gh" in text and ("ghp_" in text or "gho_" in text or "ghu_" in text or "ghs_" in text
                              or "ghr_" in text or "github_pat_" in text))
    )


def _may_name_a_secret(lowered: str) -> bool:
    return (
        "key" in lowered or "secret" in lowered or "token" in lowered or "passw" in lowered
        or "passphrase" in lowered or "authorization" in lowered or "credential" in lowered
        or "cookie" in lowered
    )


def _secret_name_ends(text: str, lowered: str) -> list[int]:
    """Where a secret's name ends, found with str.find: a case-blind regex scan is an order of magnitude slower."""
    if len(lowered) != len(text):  # a character whose lower case is longer: positions would shift
        return [m.end() for m in _SECRET_NAME_ANYCASE.finditer(text)]
    ends: list[int] = []
    for word in _SECRET_WORDS:
        start = lowered.find(word)
        while start != -1:
            end = start + len(word)
            if word == "credential" and lowered.startswith("s", end):
                end += 1
            ends.append(end)
            start = lowered.find(word, end)
    start = lowered.find("key")
    while start != -1:
        if _KEY_OWNER.search(lowered, max(0, start - 11), start):  # \Z: the owner ends where "key" starts
            ends.append(start + 3)
        start = lowered.find("key", start + 3)
    return sorted(ends)


def _secret_pairs(text: str, lowered: str, counts: dict[str, int]) -> str:
    out: list[str] = []
    done = 0
    for end in _secret_name_ends(text, lowered):
        if end < done:
            continue  # the name is inside a value already redacted
        match = _SECRET_VALUE.match(text, end)
        if match is None:
            continue
        group = next(g for g in _VALUE_GROUPS if match.group(g) is not None)
        value = match.group(group)
        if not value or value.lower() in _LITERALS or _ONLY_TOKENS.fullmatch(value):
            continue
        start, stop = match.span(group)
        token = TOKENS["secret"]
        quote = match.group("kq") or ""
        if group == "bare" and quote.endswith('"'):
            token = f"{quote}{token}{quote}"  # a JSON number after a JSON key: keep the document JSON
        out.append(text[done:start])
        out.append(token)
        done = stop
        _add(counts, "secret")
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


# --- numbers -----------------------------------------------------------------------------------------


def _cards(match: re.Match[str], counts: dict[str, int]) -> str:
    run, text, (start, stop) = match.group(0), match.string, match.span()
    # A first group glued to a word ("ab41...") or a last one glued to a word or decimals ("...1111.50",
    # "...9632b04c1" of a hash) belongs to something else; an escape before the run is not a word.
    glued_before = start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_")
    glued_before = glued_before and _ESCAPE_BEFORE.search(text, max(0, start - 6), start) is None
    glued_after = _GLUED_AFTER.match(text, stop) is not None
    if not (glued_before or glued_after) and luhn_ok(run):
        _add(counts, "card")
        return TOKENS["card"]
    # More groups than one card ("4111 1111 1111 1111 12 27", "ref 2024 4111 1111 1111 1111"):
    # the longest Luhn-valid window of whole groups, from each group on.
    parts = _CARD_SEPARATOR.split(run)
    groups, separators = parts[0::2], parts[1::2]
    first, usable = int(glued_before), len(groups) - int(glued_after)
    out: list[str] = []
    i = 0
    while i < len(groups):
        end = None
        if first <= i < usable and groups[i][0] in "23456":
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
            _add(counts, "card")
            out.append(TOKENS["card"])
        if end < len(separators):
            out.append(separators[end])
        i = end + 1
    return "".join(out)


def _ssn(match: re.Match[str], counts: dict[str, int]) -> str:
    if _SSN_PLACEHOLDER.match(match.group(0)):
        return match.group(0)
    _add(counts, "national_id")
    return TOKENS["national_id"]


def _phone(match: re.Match[str], counts: dict[str, int]) -> str:
    text = match.group(0)
    low, high = _PHONE_DIGITS.get(text[0], _NATIONAL_DIGITS)
    digits = sum(c.isdigit() for c in text)
    if low <= digits <= high:
        _add(counts, "phone")
        return TOKENS["phone"]
    if text[0] == "+" and digits > high:
        # Two numbers in a row ("+44 7911 123456 020 7946 0958"): the longest leading part that is one.
        for cut in reversed([m.start() for m in _PHONE_BREAK.finditer(text)]):
            if low <= sum(c.isdigit() for c in text[:cut]) <= high:
                _add(counts, "phone")
                return TOKENS["phone"] + _phones(text[cut:], counts)
    return text


def _phones(text: str, counts: dict[str, int]) -> str:
    if "+" in text:
        text = _PHONE_INTERNATIONAL.sub(lambda m: _phone(m, counts), text)
    if _NATIONAL_HINT.search(text):
        text = _PHONE_NATIONAL.sub(lambda m: _phone(m, counts), text)
    return text


# --- e-mail ------------------------------------------------------------------------------------------


def _emails(text: str, pattern: re.Pattern[str], counts: dict[str, int]) -> str:
    """Find each local part by reading back from its "@": a forward scan tries a local part everywhere."""
    out: list[str] = []
    done = 0
    at = text.find("@")
    while at != -1:
        back = _LOCAL_PART_REVERSED.match(text[max(done, at - _LOCAL_PART_MAX) : at][::-1])
        if back is None:  # "@" with nothing before it: a handle, not an address
            at = text.find("@", at + 1)
            continue
        start = at - back.end()
        match = pattern.match(text, start) or pattern.search(text, start)
        if match is None:
            break
        out.append(text[done : match.start()])
        out.append(TOKENS["email"])
        done = match.end()
        _add(counts, "email")
        at = text.find("@", done)
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


# --- the whole text ----------------------------------------------------------------------------------


def _redact_text(text: str, counts: dict[str, int], email: re.Pattern[str] = _EMAIL) -> str:
    """Every pattern in the contract's order: secrets, cards (before phones eat them), ids, phones, e-mail."""
    if _may_hold_a_shape(text):
        text, n = _SECRET_SHAPES.subn(TOKENS["secret"], text)
        _add(counts, "secret", n)
    lowered = text.lower()
    if _may_name_a_secret(lowered):
        text = _secret_pairs(text, lowered, counts)
    if _AT_LEAST_8_DIGITS.match(text):
        text = _CARD.sub(lambda m: _cards(m, counts), text)
        if "-" in text and _SSN_HINT.search(text):
            text = _SSN.sub(lambda m: _ssn(m, counts), text)
        text = _phones(text, counts)
    if "@" in text:
        text = _emails(text, email, counts)
    return text


def _redact_value(value: Any, counts: dict[str, int]) -> Any:
    """The exact path for JSON the text path would break: redact the decoded values one by one."""
    if isinstance(value, str):
        return _redact_text(value, counts, _EMAIL_DECODED)
    if isinstance(value, list):
        return [_redact_value(item, counts) for item in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _redact_text(key, counts, _EMAIL_DECODED)
            if (
                _SECRET_KEY.fullmatch(key)
                and isinstance(item, str | int | float)
                and not isinstance(item, bool)
                and item != ""
                and not (isinstance(item, str) and _ONLY_TOKENS.fullmatch(item))
            ):
                _add(counts, "secret")
                out[name] = TOKENS["secret"]
            else:
                out[name] = _redact_value(item, counts)
        return out
    if isinstance(value, int) and not isinstance(value, bool):
        digits = str(value)
        if _CARD.fullmatch(digits) and luhn_ok(digits):
            _add(counts, "card")
            return TOKENS["card"]
    return value


def _is_json(text: str) -> bool:
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
    # Only a card (a bare JSON number) or a text with escapes can lose JSON validity on the text path.
    if counts and ("card" in counts or "\\" in text) and not _is_json(out):
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
            _add(counts, kind, n)
    return out, counts
