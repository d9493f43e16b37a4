"""Snapshots of a processor's per-partition state, with the input offset they cover.

Why snapshots plus re-reading instead of a changelog: a processor's state is a pure function
of its input up to an offset, and every output carries a deterministic id. So a snapshot only
has to say "this is the state after every record before `next_offset`"; after a crash (kill -9
included) the service reloads it, seeks to `next_offset` and re-processes from there, and the
outputs it produces again are identical records that the ledger lands once. Nothing is lost
(the input is re-read) and nothing is duplicated (ids dedupe). With no snapshot at all the
partition is re-read from the beginning, which rebuilds the same state rather than silently
starting empty.

Snapshots are files (atomic rename, fsynced) under the service's state directory: replicas of
a service share that directory (one volume in compose), so a partition that moves to another
replica on a rebalance takes its state along. State is JSON so a snapshot is readable when
an operator needs to look at it, and zlib-compressed because sketches of many keys add up.
"""

from __future__ import annotations

import json
import os
import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden.core.errors import StateError

FORMAT = 1
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Snapshot:
    topic: str
    partition: int
    next_offset: int  # the state covers every record of the partition below this offset
    state: Any  # JSON value, as the processor encoded it
    saved_at: float


class SnapshotStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, topic: str, partition: int) -> Path:
        return self.directory / f"{_SAFE.sub('_', topic)}-{partition}.snapshot"

    def save(self, topic: str, partition: int, next_offset: int, state: Any, text: str | None = None) -> Snapshot:
        """Write atomically: a crash mid-save leaves the previous snapshot in place, never half of one.
        ``text``: the state's compact JSON text when the caller wrote it already (the changelog store)."""
        if next_offset < 0:
            raise StateError(f"snapshot of {topic}[{partition}]: next_offset must be >= 0, got {next_offset}")
        snapshot = Snapshot(topic, partition, next_offset, state, time.time())
        document = {"format": FORMAT, "topic": topic, "partition": partition, "next_offset": next_offset,
                    "saved_at": snapshot.saved_at, "state": state}
        try:
            if text is not None:  # the same document, its state not written twice
                head = json.dumps({k: v for k, v in document.items() if k != "state"}, separators=(",", ":"))
                written = f'{head[:-1]},"state":{text}}}'
            else:
                written = json.dumps(document, separators=(",", ":"))
            payload = zlib.compress(written.encode(), 1)
        except (TypeError, ValueError) as exc:
            raise StateError(f"state of {topic}[{partition}] is not JSON-serialisable: {exc}") from exc
        target = self.path(topic, partition)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return snapshot

    def attach(self, consumer: Any) -> None:
        """Files need no consumer (the runtime's StateStore interface)."""

    def sync(self) -> None:
        """Every save is fsynced before it returns (the runtime's StateStore interface)."""

    def load(self, topic: str, partition: int) -> Snapshot | None:
        target = self.path(topic, partition)
        try:
            payload = target.read_bytes()
        except FileNotFoundError:
            return None
        try:
            document = json.loads(zlib.decompress(payload))
        except (zlib.error, ValueError) as exc:
            raise StateError(f"snapshot {target} is unreadable ({exc}); move it away to rebuild the state "
                             f"from the beginning of {topic}[{partition}]") from exc
        if document.get("format") != FORMAT or document.get("topic") != topic \
                or document.get("partition") != partition:
            raise StateError(f"snapshot {target} holds format {document.get('format')} of "
                             f"{document.get('topic')}[{document.get('partition')}], expected format {FORMAT} "
                             f"of {topic}[{partition}]")
        return Snapshot(topic, partition, int(document["next_offset"]), document["state"],
                        float(document["saved_at"]))
