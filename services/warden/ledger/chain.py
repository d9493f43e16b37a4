"""Per-chain hash links: tamper evidence that survives a round trip through ClickHouse.

A chain is one (table, chain_key) pair; chain_key is the record's Kafka key (run_id for
run-keyed topics), so one chain is always written by one sink consumer, in offset order,
however far the sink scales out. The hashed payload is JSON of the column values in
table order: ClickHouse gives back the same Python types that were written (floats for
Float64, ints for Int/UInt), except that datetimes come back naive in UTC and maps may
come back in another order, which the encoding below makes irrelevant.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
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


def canonical(values: Iterable[Any]) -> str:
    return json.dumps(list(values), separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=_default)


def link(prev_hash: str, values: Iterable[Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical(values)}".encode()).hexdigest()
