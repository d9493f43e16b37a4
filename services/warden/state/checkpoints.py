"""Tie a consumer's assigned partitions to snapshots: restore on assign, save as offsets advance.

The order is what makes a crash safe: outputs are flushed to the broker first, then the
snapshot is written, then the group offset is committed. A crash between any two steps only
means re-processing records whose outputs carry the same ids as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from warden.state.snapshots import SnapshotStore

log = logging.getLogger("warden.state")

Restore = Callable[[str, int, Any], None]  # (topic, partition, state or None for a fresh start)
Dump = Callable[[str, int], Any]  # (topic, partition) -> JSON state


class Checkpoints:
    def __init__(self, store: SnapshotStore, consumer: Consumer, restore: Restore, dump: Dump,
                 flush: Callable[[], None], every_s: float = 5.0) -> None:
        self.store = store
        self.consumer = consumer
        self.restore = restore
        self.dump = dump
        self.flush = flush
        self.every_s = every_s
        self.positions: dict[tuple[str, int], int] = {}  # next offset to process, per owned partition
        self.saved: dict[tuple[str, int], int] = {}
        self._last_save = time.monotonic()

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            snapshot = self.store.load(tp.topic, tp.partition)
            self.restore(tp.topic, tp.partition, snapshot.state if snapshot else None)
            tp.offset = snapshot.next_offset if snapshot else OFFSET_BEGINNING
            key = (tp.topic, tp.partition)
            if snapshot:
                self.positions[key] = self.saved[key] = snapshot.next_offset
            log.info("%s[%d]: %s", tp.topic, tp.partition,
                     f"restored from snapshot at offset {snapshot.next_offset}" if snapshot
                     else "no snapshot: rebuilding state from the beginning")
        consumer.assign(partitions)

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        owned = {(tp.topic, tp.partition) for tp in partitions}
        self.save(only=owned)
        for key in owned:
            self.positions.pop(key, None)
            self.saved.pop(key, None)

    def on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Lost, not revoked: another member may own them already, so write nothing over its snapshots."""
        for tp in partitions:
            self.positions.pop((tp.topic, tp.partition), None)
            self.saved.pop((tp.topic, tp.partition), None)

    def advance(self, topic: str, partition: int, offset: int) -> None:
        """Call after a record's outputs have been handed to the producer."""
        self.positions[(topic, partition)] = offset + 1

    def maybe_save(self) -> bool:
        if time.monotonic() - self._last_save < self.every_s:
            return False
        self.save()
        return True

    def save(self, only: set[tuple[str, int]] | None = None, force: bool = False) -> None:
        """`force` writes even an unmoved partition: its state changed without input (a flush)."""
        dirty = {key: offset for key, offset in self.positions.items()
                 if (force or self.saved.get(key) != offset) and (only is None or key in only)}
        self._last_save = time.monotonic()
        if not dirty:
            return
        self.flush()
        for (topic, partition), offset in dirty.items():
            self.store.save(topic, partition, offset, self.dump(topic, partition))
            self.saved[(topic, partition)] = offset
        self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in dirty.items()], asynchronous=True)
