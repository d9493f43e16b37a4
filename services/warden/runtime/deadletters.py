"""A record that cannot be decoded or breaks the contract becomes a DeadLetter, with the reason."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from confluent_kafka import Message

from warden.core.records import DeadLetter, DeadLetterKind


def dead_letter_for(msg: Message, reason: str, kind: DeadLetterKind, service: str) -> DeadLetter:
    """Its id is a digest of where the record was and what it held, so a replay re-makes the same id."""
    raw = msg.value() or b""
    key = msg.key()
    digest = hashlib.sha256(f"{msg.topic()}|{msg.partition()}|{msg.offset()}|".encode() + raw).hexdigest()
    return DeadLetter(
        dead_letter_id=digest[:32], source_topic=msg.topic() or "", source_partition=msg.partition() or 0,
        source_offset=msg.offset() or 0, source_key=key.decode("utf-8", "replace") if key else None,
        error_kind=kind, reason=reason[:2000], raw=raw, failed_at=datetime.now(UTC), service=service,
    )
