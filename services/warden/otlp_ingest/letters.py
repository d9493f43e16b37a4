"""A refused span as a DeadLetter: the reason, the run or trace it belongs to, and the span's JSON."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from warden.core.records import DeadLetter, DeadLetterKind
from warden.otlp_ingest.processor import Refusal
from warden.otlp_ingest.spans import Span

SOURCE = "otlp/v1/traces"  # where the letter came from, in the source_topic column
SERVICE = "otlp-ingest"
RAW_LIMIT = 256 * 1024  # well under the 1 MiB record limit, so the ledger-sink can always read the letter
LONG_TEXT = 4096


def raw_of(span: Span, limit: int = RAW_LIMIT) -> bytes:
    """The span's JSON; past ``limit`` (prompts and messages make spans large) long texts are cut, and say so."""
    raw = span.raw()
    if len(raw) <= limit:
        return raw
    def cut(value: Any) -> Any:
        if isinstance(value, str) and len(value) > LONG_TEXT:
            return f"{value[:LONG_TEXT]}... [{len(value) - LONG_TEXT} more characters not kept]"
        return value
    trimmed = span.model_copy(update={"attributes": {k: cut(v) for k, v in span.attributes.items()}})
    raw = trimmed.raw()
    return raw if len(raw) <= limit else raw[:limit]


def dead_letter(refusal: Refusal, at: datetime) -> DeadLetter:
    """Its id is a digest of the span's key and bytes: a re-sent span makes the same letter, landed once."""
    raw = raw_of(refusal.span)
    digest = hashlib.sha256(f"{SOURCE}|{refusal.span.key}|".encode() + raw).hexdigest()
    return DeadLetter(
        dead_letter_id=digest[:32], source_topic=SOURCE, source_partition=0, source_offset=0,
        source_key=refusal.run_id or refusal.span.trace_id, error_kind=DeadLetterKind.VALIDATE,
        reason=f"{refusal.reason.value}: {refusal.detail}"[:2000], raw=raw, failed_at=at, service=SERVICE)
