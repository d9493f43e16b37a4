"""Redaction before storage: secrets, card numbers, IBANs, national ids, phone numbers, e-mail addresses.

The ledger is immutable, so whatever is not redacted on the way in stays for the whole
retention period. Hence the bias: match generously around what is clearly personal or
secret, but never eat the numbers an auditor needs (amounts, order ids, dates,
timestamps): cards must pass the Luhn check, IBANs their mod-97 check and country format, a bare
nine-digit SSN needs an SSN label before it, phones need a phone's shape, and an opaque value next
to a merely key-like name ("key", "auth", "session") must look random.

Inputs are usually JSON text (tool params and outputs). Replacement tokens contain no
quotes or backslashes and the patterns do not start inside a JSON escape, so valid JSON
stays valid JSON. Where a regex would still break it (a card number as a bare JSON
number, a secret glued to an escape), the document is redacted value by value instead.

This runs on every event the sink lands, and most texts contain nothing to redact, so
every pattern sits behind a cheap test (a substring, a digit count, an "@") and starts
with a character class where it can, which lets the regex engine skip ahead.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from stdnum import iban as _iban
from stdnum.exceptions import ValidationError

KINDS = ("secret", "card", "iban", "national_id", "phone", "email")
TOKENS = {kind: f"[REDACTED:{kind}]" for kind in KINDS}
# A token already in the text (the SDK or the tool proxy redacted before producing) still counts:
# the stored count says what was taken out before the text came to rest, wherever that happened.
_TOKEN = re.compile(r"\[REDACTED:(" + "|".join(KINDS) + r")\]")

# A JSON escape before a token is a boundary, not part of a word: "...:\nBearer x", "\u00a0+1 415...".
_AFTER_ESCAPE = r"(?<=\\[nrtbf])|(?<=\\u[0-9A-Fa-f]{4})"

# --- secrets -----------------------------------------------------------------------------------------

_SECRET_SHAPES = re.compile(
    r"(?:(?<![A-Za-z0-9_])|" + _AFTER_ESCAPE + ")"
    r"(?:[Bb]earer\s+[A-Za-z0-9._~+/=-]{12,}"
    r"|sk-(?:proj-|ant-|live_|test_)?[A-Za-z0-9_-]{16,}"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"
    r"|AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[a-z]-[A-Za-z0-9-]{10,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)"
)

# A key names a secret when it *ends* with one of these words: "access_token" and "x-api-key" do,
# "max_tokens", "token_count" and "keyboard" do not (token counts are what a cost audit needs).
# A bare "key" is too common ("idempotency_key", "s3 key"), so it needs an owner before it.
_SECRET_WORDS = ("token", "secret", "password", "passwd", "passphrase", "authorization", "credential", "cookie")
_KEY_OWNER = re.compile(r"(?:api|access|secret|private|signing|encryption|master|client|account)[_-]?\Z")
_SECRET_NAME = (
    r"(?:(?:api|access|secret|private|signing|encryption|master|client|account)[_-]?key"
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
# Names that only *may* hold a secret ("key", "auth", "session", "signature"): their value goes
# only when it looks random (_looks_random), so "idempotency_key": "k-1" and "s3_key": "a/b.csv" stay.
_WEAK_WORDS = ("key", "auth", "sig", "signature", "session", "sessionid", "pwd", "pass", "salt", "hmac", "dsn")
_WEAK_KEY = re.compile(r"[\w.-]*?(?:" + "|".join(_WEAK_WORDS) + ")", re.IGNORECASE)
_WEAK_NAME_ANYCASE = re.compile("|".join(_WEAK_WORDS), re.IGNORECASE)
_SCHEME = re.compile(r"(?:[Bb]asic|[Bb]earer|[Tt]oken|[Dd]igest)\s+")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_RANDOM_CHARS = re.compile(r"[A-Za-z0-9+/=_.:~-]{16,512}")

# Private keys in PEM (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP): the whole block goes, up to
# its END line or, cut off, to the end of the string. Certificates and public keys are not secret.
_PEM = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:[A-Za-z0-9+/=:,.\s-]|\\[nrt])*?"
    r"(?:-----END (?P=label)-----|(?!(?:[A-Za-z0-9+/=:,.\s-]|\\[nrt])))"
)
# An AWS secret access key on its own: 40 characters of base64, not part of a longer run, mixed.
_AWS_SECRET = re.compile(
    r"(?:(?<![A-Za-z0-9+/=])|" + _AFTER_ESCAPE + r")[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])"
)
# user:password@ in a URL (database DSNs, webhooks): the password goes, the user and host stay.
_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@\"'\\]+:(?P<pw>[^\s@/\"'\\]+)@")
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

# Country code, check digits, then 11-30 letters and digits, optionally in groups of four. Found
# generously here, kept unless stdnum's check (mod 97 and the country's length and format) passes.
_IBAN = re.compile(
    r"(?:(?<![A-Za-z0-9])|" + _AFTER_ESCAPE + r")[A-Z]{2}\d\d(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?"
    r"(?![A-Za-z0-9])"
)
_IBAN_HINT = re.compile(r"[A-Z]{2}\d\d")

# 123-45-6789, 123 45 6789, 123.45.6789: one separator, used twice.
_SSN_HINT = re.compile(r"[-. ]\d\d[-. ]\d{4}")
_SSN = re.compile(
    r"\d(?:(?<![\d.-]\d)|(?<=\\u[0-9A-Fa-f]{4}\d))\d\d(?P<sep>[-. ])\d\d(?P=sep)\d{4}"
    r"(?![\d-]|[.,]\d)"
)
# A bare nine-digit SSN is any nine digits: it goes only right after a label that names it.
_SSN_LABEL = r"(?:ssn|social[ _-]?security(?:[ _-]?(?:number|num|no))?|ss[ _-]?no|i?tin|tax[ _-]?id)"
_SSN_KEY = re.compile(r"(?:[\w.-]*?[_.-])?" + _SSN_LABEL, re.IGNORECASE)
_NINE_DIGITS = re.compile(r"(?<!\d)\d{9}(?!\d)")
_SSN_LABELLED = re.compile(
    r"(?:(?<![A-Za-z])|(?<=\\[nrtbf]))" + _SSN_LABEL +
    r"(?P<kq>\\?[\"'])?(?:\s*[:=#]\s*|\s+(?:no\.?|number|#)?\s*)(?P<vq>\\?[\"'])?"
    r"(?P<ssn>\d{9})(?!\d)",
    re.IGNORECASE,
)

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
# Internationalised addresses (RFC 6531): any letter in the local part and the domain, and punycode
# TLDs. json.dumps escapes "jöhn.müller@exämple.de" as "j\\u00f6hn.m\\u00fcller@ex\\u00e4mple.de" by
# default, so a \\uXXXX escape counts as the character it stands for (decoded in _domain_end: only
# decoding tells a letter from a no-break space).
_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)*\.(?:[^\W\d_]{2,}|xn--[a-z0-9-]{2,})(?![\w-])")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_DOMAIN_MAX = 255
# The local part, ending right before the "@" (searched with endpos at the "@").
_EMAIL = re.compile(
    r"(?:(?<![\w.%+-])(?<!(?<!\\)\\)|" + _AFTER_ESCAPE + ")"
    r"(?:[\w.%+-]|\\{1,2}u[0-9A-Fa-f]{4})++\Z"
)
# In decoded strings (the value-by-value path) a backslash is just a character, but a \uXXXX left
# in one is an escape of JSON nested in the string (so is a doubly escaped one in the text).
_EMAIL_DECODED = re.compile(r"(?<![\w.%+-])(?:[\w.%+-]|\\{1,2}u[0-9A-Fa-f]{4})++\Z")
_LOCAL_PART_MAX = 128  # RFC 5321 allows 64 characters; escapes take six each
_LOCAL_PART_REVERSED = re.compile(r"(?:[0-9A-Fa-f]{4}u\\{1,2}|[\w.%+-])+")


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
        or "AKIA" in text or "ASIA" in text or "xox" in text or "AIza" in text
        or ("gh" in text and ("ghp_" in text or "gho_" in text or "ghu_" in text or "ghs_" in text
                              or "ghr_" in text or "github_pat_" in text))
    )


def _may_name_a_secret(lowered: str) -> bool:
    return (
        "key" in lowered or "secret" in lowered or "token" in lowered or "pass" in lowered
        or "auth" in lowered or "credential" in lowered or "cookie" in lowered or "sig" in lowered
        or "session" in lowered or "pwd" in lowered or "salt" in lowered or "hmac" in lowered
        or "dsn" in lowered
    )


def _looks_random(value: str) -> bool:
    """An opaque credential rather than a name, path, id or sentence: long, one token, classes mixed.

    Entropy alone does not separate "customer-cache-key-2026-11" from "9f8aB7c6D5e4F3a2" (both
    3.9 bits a character); what does is how often the character class changes, which words,
    paths and dates rarely do.
    """
    value = _SCHEME.sub("", value, count=1)
    if not _RANDOM_CHARS.fullmatch(value) or _UUID.fullmatch(value) or value.isdigit():
        return False
    classes = [0 if c.islower() else 1 if c.isupper() else 2 if c.isdigit() else 3 for c in value]
    core = [c for c in classes if c != 3]
    if len(core) < 16 or len(set(core)) < 2:
        return False
    changes = sum(1 for a, b in itertools.pairwise(core) if a != b)
    return changes / (len(core) - 1) >= 0.3


def _aws_secret(match: re.Match[str], counts: dict[str, int]) -> str:
    value = match.group(0)
    has = (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value))
    if all(has) and _looks_random(value):
        _add(counts, "secret")
        return TOKENS["secret"]
    return value


def _url_password(match: re.Match[str], counts: dict[str, int]) -> str:
    password = match.group("pw")
    if _ONLY_TOKENS.fullmatch(password):
        return match.group(0)
    _add(counts, "secret")
    start, stop = match.span("pw")
    base = match.start()
    return match.group(0)[: start - base] + TOKENS["secret"] + match.group(0)[stop - base :]


def _secret_name_ends(text: str, lowered: str) -> list[tuple[int, bool]]:
    """Where a secret's name ends, and whether the name is only key-like (weak), found with str.find:
    a case-blind regex scan is an order of magnitude slower."""
    if len(lowered) != len(text):  # a character whose lower case is longer: positions would shift
        return sorted([(m.end(), False) for m in _SECRET_NAME_ANYCASE.finditer(text)]
                      + [(m.end(), True) for m in _WEAK_NAME_ANYCASE.finditer(text)])
    ends: list[tuple[int, bool]] = []
    for word in _SECRET_WORDS:
        start = lowered.find(word)
        while start != -1:
            end = start + len(word)
            if word == "credential" and lowered.startswith("s", end):
                end += 1
            ends.append((end, False))
            start = lowered.find(word, end)
    for word in _WEAK_WORDS:
        start = lowered.find(word)
        while start != -1:
            end = start + len(word)
            owned = word == "key" and _KEY_OWNER.search(lowered, max(0, start - 11), start)  # \Z: ends at "key"
            ends.append((end, not owned))
            start = lowered.find(word, end)
    return sorted(ends)


def _secret_pairs(text: str, lowered: str, counts: dict[str, int]) -> str:
    out: list[str] = []
    done = 0
    for end, weak in _secret_name_ends(text, lowered):
        if end < done:
            continue  # the name is inside a value already redacted
        match = _SECRET_VALUE.match(text, end)
        if match is None:
            continue
        group = next(g for g in _VALUE_GROUPS if match.group(g) is not None)
        value = match.group(group)
        if not value or value.lower() in _LITERALS or _ONLY_TOKENS.fullmatch(value):
            continue
        if weak and not _looks_random(value):
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


def _ssn_valid(digits: str) -> bool:
    """Never issued: area 000 or 666, group 00, serial 0000 (SSA). Area 9xx stays: those are ITINs."""
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and group != "00" and serial != "0000"


def _ssn(match: re.Match[str], counts: dict[str, int]) -> str:
    if not _ssn_valid(re.sub(r"\D", "", match.group(0))):
        return match.group(0)
    _add(counts, "national_id")
    return TOKENS["national_id"]


def _ssn_labelled(match: re.Match[str], counts: dict[str, int]) -> str:
    if not _ssn_valid(match.group("ssn")):
        return match.group(0)
    _add(counts, "national_id")
    token = TOKENS["national_id"]
    quote = match.group("kq") or ""
    if match.group("vq") is None and quote.endswith('"'):
        token = f"{quote}{token}{quote}"  # a JSON number after a JSON key: keep the document JSON
    start, stop = match.span("ssn")
    base = match.start()
    return match.group(0)[: start - base] + token + match.group(0)[stop - base :]


def iban_ok(text: str) -> bool:
    """Mod 97, a known country and that country's BBAN structure (stdnum). The national check digits
    some countries add are not required: a mistyped account number is still someone's account."""
    try:
        _iban.validate(text, check_country=False)
    except ValidationError:
        return False
    return True


def _iban_match(match: re.Match[str], counts: dict[str, int]) -> str:
    if not iban_ok(match.group(0)):
        return match.group(0)
    _add(counts, "iban")
    return TOKENS["iban"]


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


def _domain_end(text: str, start: int) -> int | None:
    """Where the domain that starts at ``start`` (after an "@") ends, or None when there is none."""
    chars: list[str] = []
    ends: list[int] = []
    i, n = start, len(text)
    while i < n and len(chars) < _DOMAIN_MAX:
        char, step = text[i], 1
        if char == "\\":  # \uXXXX, or \\uXXXX: an escape of JSON nested in a string
            escape = 2 if text.startswith("\\\\u", i) else 1
            if text.startswith("u", i + escape) and _HEX4.fullmatch(text, i + escape + 1, i + escape + 5):
                char, step = chr(int(text[i + escape + 1 : i + escape + 5], 16)), escape + 5
        if not (char.isalnum() or char in "-._"):
            break
        chars.append(char)
        i += step
        ends.append(i)
    match = _DOMAIN.match("".join(chars))
    return None if match is None else ends[match.end() - 1]


def _emails(text: str, pattern: re.Pattern[str], counts: dict[str, int]) -> str:
    """Find each local part by reading back from its "@": a forward scan tries a local part everywhere."""
    out: list[str] = []
    done = 0
    at = text.find("@")
    while at != -1:
        back = _LOCAL_PART_REVERSED.match(text[max(done, at - _LOCAL_PART_MAX) : at][::-1])
        local = None if back is None else pattern.search(text, at - back.end(), at)
        end = None if local is None else _domain_end(text, at + 1)
        if local is None or end is None:  # "@" with no local part (a handle) or no domain after it
            at = text.find("@", at + 1)
            continue
        out.append(text[done : local.start()])
        out.append(TOKENS["email"])
        done = end
        _add(counts, "email")
        at = text.find("@", done)
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


# --- the whole text ----------------------------------------------------------------------------------


def _redact_text(text: str, counts: dict[str, int], email: re.Pattern[str] = _EMAIL) -> str:
    """Every pattern in the contract's order: secrets, IBANs and cards (before phones eat them), ids,
    phones, e-mail."""
    if "PRIVATE KEY" in text:
        text, n = _PEM.subn(TOKENS["secret"], text)
        _add(counts, "secret", n)
    if _may_hold_a_shape(text):
        text, n = _SECRET_SHAPES.subn(TOKENS["secret"], text)
        _add(counts, "secret", n)
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(lambda m: _url_password(m, counts), text)
    if len(text) >= 40:
        text = _AWS_SECRET.sub(lambda m: _aws_secret(m, counts), text)
    lowered = text.lower()
    if _may_name_a_secret(lowered):
        text = _secret_pairs(text, lowered, counts)
    if _AT_LEAST_8_DIGITS.match(text):
        if _IBAN_HINT.search(text):
            text = _IBAN.sub(lambda m: _iban_match(m, counts), text)
        text = _CARD.sub(lambda m: _cards(m, counts), text)
        if _SSN_HINT.search(text):
            text = _SSN.sub(lambda m: _ssn(m, counts), text)
        if _NINE_DIGITS.search(text):
            text = _SSN_LABELLED.sub(lambda m: _ssn_labelled(m, counts), text)
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
            scalar = (isinstance(item, str | int | float) and not isinstance(item, bool) and item != ""
                      and not (isinstance(item, str) and _ONLY_TOKENS.fullmatch(item)))
            if scalar and (_SECRET_KEY.fullmatch(key) or (
                    isinstance(item, str) and _WEAK_KEY.fullmatch(key) and _looks_random(item))):
                _add(counts, "secret")
                out[name] = TOKENS["secret"]
            elif (isinstance(item, int | str) and not isinstance(item, bool) and _SSN_KEY.fullmatch(key)
                  and re.fullmatch(r"\d{9}", str(item)) and _ssn_valid(str(item))):
                _add(counts, "national_id")
                out[name] = TOKENS["national_id"]
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


def _already_redacted(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    if "[REDACTED:" in text:
        for match in _TOKEN.finditer(text):
            _add(counts, match.group(1))
    return counts


def redact(text: str | None, count_existing: bool = True) -> Redaction:
    """Redact one stored text (tool params, output, state change); None and "" pass through.

    The counts include tokens the text already carried (redacted upstream by the SDK or the proxy)
    unless ``count_existing`` is False (a producer counting only what it takes out itself).
    """
    if not text:
        return Redaction(text, {})
    counts = _already_redacted(text) if count_existing else {}
    out = _redact_text(text, counts)
    # Only a card (a bare JSON number) or a text with escapes can lose JSON validity on the text path.
    if counts and ("card" in counts or "\\" in text) and not _is_json(out):
        try:
            parsed = json.loads(text)
        except ValueError:
            return Redaction(out, counts)  # not JSON to begin with: nothing to keep valid
        counts = _already_redacted(text) if count_existing else {}
        out = json.dumps(_redact_value(parsed, counts), ensure_ascii=False)
    return Redaction(out, counts)


def redact_many(*texts: str | None, count_existing: bool = True) -> tuple[list[str | None], dict[str, int]]:
    """Redact the texts of one record together, so the ledger row carries one merged count."""
    out: list[str | None] = []
    counts: dict[str, int] = {}
    for text in texts:
        result = redact(text, count_existing)
        out.append(result.text)
        for kind, n in result.counts.items():
            _add(counts, kind, n)
    return out, counts
