"""Where checkpoints live: the StateStore interface, and the runtime's document inside a checkpoint.

Two stores implement it: the changelog topic (runtime/changelog.py, the default: state that a
replica on another host restores without a shared filesystem, writes fenced by an epoch) and the
snapshot directory alone (warden.state.snapshots.SnapshotStore: replicas must share it). The
runtime saves every dirty state, then ``sync``s the store (what it saved is durable on return),
then commits the input offsets; it never looks behind those calls.

A checkpoint document holds the processor's own state (``dump``), the ids it has seen (the
idempotence memory), the next offset of every input partition the state covers, and the outbox
of outputs made without input (idle flushes) that must be produced again after a crash.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Protocol

from warden.core.errors import StateError
from warden.core.seen import SeenIds
from warden.state.snapshots import Snapshot

FORMAT = 1
MARK = "warden.runtime"


class StateStore(Protocol):
    def attach(self, consumer: Any) -> None: ...  # the task's consumer (whose group keeps a store's positions)

    def load(self, topic: str, partition: int) -> Snapshot | None: ...

    def save(self, topic: str, partition: int, next_offset: int, state: Any) -> Snapshot: ...

    def sync(self) -> None: ...  # every save before it is durable on return


@dataclass(frozen=True)
class Pending:
    """An encoded output waiting in the outbox: already Avro, so it is produced again byte for byte."""

    topic: str  # full topic name
    key: bytes
    value: bytes


@dataclass
class Checkpoint:
    state: Any
    seen: SeenIds | None
    positions: dict[tuple[str, int], int] = field(default_factory=dict)  # full topic name, partition
    outbox: list[Pending] = field(default_factory=list)


def is_runtime_document(data: Any) -> bool:
    return isinstance(data, dict) and data.get(MARK) == FORMAT


def to_document(checkpoint: Checkpoint) -> dict[str, Any]:
    seen = checkpoint.seen.to_json() if checkpoint.seen is not None else None
    return {MARK: FORMAT, "state": checkpoint.state, "seen": seen,
            "positions": [[t, p, o] for (t, p), o in sorted(checkpoint.positions.items())],
            "outbox": [[o.topic, base64.b64encode(o.key).decode(), base64.b64encode(o.value).decode()]
                       for o in checkpoint.outbox]}


def from_document(data: dict[str, Any], seen_capacity: int) -> Checkpoint:
    try:
        return Checkpoint(
            state=data["state"], seen=SeenIds.from_json(data.get("seen"), seen_capacity or None),
            positions={(str(t), int(p)): int(o) for t, p, o in data["positions"]},
            outbox=[Pending(t, base64.b64decode(k), base64.b64decode(v)) for t, k, v in data["outbox"]])
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"a runtime checkpoint is missing or has a malformed field: {exc!r}") from exc
