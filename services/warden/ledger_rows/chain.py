"""Per-chain hash links: tamper evidence that survives a round trip through ClickHouse.

A link is HMAC-SHA256 under the ledger key named in the row's ``hash_key_id`` (ADR 0009): without
the key nobody can recompute a changed, appended or replaced record's hash. Rows written before
keyed chains (``hash_key_id`` empty) were linked with plain SHA-256 and still verify as legacy.

A chain is one (table, chain_key) pair; chain_key is the record's Kafka key (run_id for
run-keyed topics), so one chain is always written by one sink consumer, in offset order,
however far the sink scales out. The hashed payload is JSON of the column values in
table order: ClickHouse gives back the same Python types that were written (floats for
Float64, ints for Int/UInt), except that datetimes come back naive in UTC and maps may
come back in another order, which the encoding below makes irrelevant.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} for the hash chain: {value!r:.60}")


# Built once: json.dumps with arguments builds an encoder per call (a third of a row's hash); the same
# arguments as json.dumps(..., separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=_default).
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=_default)


def canonical(values: Iterable[Any]) -> str:
    return _ENCODER.encode(list(values))


@dataclass(frozen=True)
class ChainKey:
    """One ledger key: its id is stored with every row it links, so keys can rotate."""

    key_id: str
    secret: bytes = field(repr=False)


def link(prev_hash: str, values: Iterable[Any], key: ChainKey | None = None) -> str:
    """The record's hash: HMAC-SHA256 under ``key``; plain SHA-256 (legacy rows) without one."""
    message = f"{prev_hash}\n{canonical(values)}".encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.digest(key.secret, message, "sha256").hex()
