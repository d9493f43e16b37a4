"""Per-chain hash links: tamper evidence that survives a round trip through ClickHouse.

A chain is one (table, chain_key) pair; chain_key is the record's Kafka key (run_id for
run-keyed topics), so one chain is always written by one sink consumer, in offset order,
however far the sink scales out. Values are canonicalised so that what is read back
(naive UTC datetimes, floats for integral numbers) hashes the same as what was written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum
from typing import Any

GENESIS = "0" * 64


def canonical(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dict):
        return [[str(k), canonical(v)] for k, v in sorted(value.items())]
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot canonicalise {type(value).__name__} for the hash chain: {value!r:.60}")


def link(prev_hash: str, values: Iterable[Any]) -> str:
    payload = json.dumps([canonical(v) for v in values], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()
