"""Redaction before storage: secrets, card numbers, national ids, phone numbers, e-mail addresses.

The ledger keeps what an auditor needs (that a refund went to *someone*) without keeping
what a leak would expose. Inputs are usually JSON text; replacement tokens contain no
quotes or backslashes, so valid JSON stays valid JSON. Cheap pre-checks skip the regexes
that cannot match, because this runs on every tool call the sink lands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SECRET_SHAPES = re.compile(
    r"(?:\bBearer\s+[A-Za-z0-9._~+/=-]{12,})"
    r"|(?:\bsk-(?:live_|test_|proj-)?[A-Za-z0-9_-]{16,})"
    r"|(?:\bAKIA[0-9A-Z]{16}\b)"
    r"|(?:\bgh[pousr]_[A-Za-z0-9]{30,})"
    r"|(?:\bxox[abprs]-[A-Za-z0-9-]{10,})"
    r"|(?:\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
)
_SECRET_PAIRS = re.compile(
    r"""(?i)(["']?\b(?:api[_-]?key|secret|token|password|passwd|access[_-]?key|client[_-]?secret)"""
    r"""\b["']?\s*[:=]\s*["']?)([^"'\s,}]{6,})"""
)
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w+-])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,3}"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4})(?![\w-])"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_DIGITS = re.compile(r"\d")


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
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
    text: str | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def redact(text: str | None) -> Redaction:
    if not text:
        return Redaction(text)
    counts: dict[str, int] = {}

    def token(kind: str) -> str:
        counts[kind] = counts.get(kind, 0) + 1
        return f"[REDACTED:{kind}]"

    text = _SECRET_SHAPES.sub(lambda m: token("secret"), text)
    text = _SECRET_PAIRS.sub(lambda m: m.group(1) + token("secret"), text)
    if len(_DIGITS.findall(text)) >= 7:
        text = _CARD.sub(lambda m: token("card") if luhn_ok(m.group(0)) else m.group(0), text)
        text = _SSN.sub(lambda m: token("national_id"), text)
        text = _PHONE.sub(lambda m: token("phone"), text)
    if "@" in text:
        text = _EMAIL.sub(lambda m: token("email"), text)
    return Redaction(text, counts)


def redact_many(*texts: str | None) -> tuple[list[str | None], dict[str, int]]:
    out: list[str | None] = []
    counts: dict[str, int] = {}
    for text in texts:
        result = redact(text)
        out.append(result.text)
        for kind, n in result.counts.items():
            counts[kind] = counts.get(kind, 0) + n
    return out, counts
