"""The changelog store on the real broker: a replica with no shared directory restores the newest
checkpoint, a big state survives chunking, and a stale owner's late write is refused and ignored."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from warden.core.errors import StateError
from warden.core.settings import WardenSettings
from warden.kafka import clients
from warden.kafka.configs import Fetch
from warden.runtime.changelog import CHUNK_BYTES, ChangelogStore, Newest, StaleStateError, encode
from warden.state.snapshots import SnapshotStore

pytestmark = pytest.mark.integration
TOPIC = "t.agent.events"


class Replica:
    """One host's store: its own producer, its own consumer in the group, its own (unshared) cache dir."""

    def __init__(self, settings: WardenSettings, group: str, cache: Path) -> None:
        self.producer = clients.producer(settings)
        self.consumer = clients.reader(settings, group, Fetch())
        self.store = ChangelogStore(settings, group, self.producer, SnapshotStore(cache))
        self.store.attach(self.consumer)

    def close(self) -> None:
        self.store.close()
        self.consumer.close()
        self.producer.close(5)


def test_a_replica_on_another_host_restores_the_newest_checkpoint(topics: WardenSettings, tmp_path: Path) -> None:
    group = f"cl-{uuid.uuid4().hex[:8]}"
    first = Replica(topics, group, tmp_path / "host-a")
    try:
        assert first.store.load(TOPIC, 3) is None
        for n in range(1, 6):
            first.store.save(TOPIC, 3, 100 * n, {"total": n})
            first.store.sync()
        big = {"ids": [uuid.uuid4().hex for _ in range(3 * CHUNK_BYTES // 16)]}  # several chunks even compressed
        first.store.save(TOPIC, 4, 7, big)
        first.store.sync()
    finally:
        first.close()
    second = Replica(topics, group, tmp_path / "host-b")  # nothing on this host's disk
    try:
        restored = second.store.load(TOPIC, 3)
        assert restored is not None and restored.state == {"total": 5} and restored.next_offset == 500
        assert second.store.epochs[f"{TOPIC}|3"] == 2  # one more than the owner it took over from
        chunked = second.store.load(TOPIC, 4)
        assert chunked is not None and chunked.state == big
        assert second.store.load(TOPIC, 5) is None
    finally:
        second.close()


def test_a_stale_owners_late_write_is_refused_and_ignored(topics: WardenSettings, tmp_path: Path) -> None:
    group = f"cl-{uuid.uuid4().hex[:8]}"
    old = Replica(topics, group, tmp_path / "a")
    new = Replica(topics, group, tmp_path / "b")
    later = Replica(topics, group, tmp_path / "c")
    try:
        old.store.load(TOPIC, 0)
        old.store.save(TOPIC, 0, 10, {"total": 1})
        old.store.sync()
        taken = new.store.load(TOPIC, 0)  # the partition moved: the new owner claims it at epoch 2
        assert taken is not None and taken.state == {"total": 1}
        new.store.save(TOPIC, 0, 20, {"total": 2})
        new.store.sync()
        old.store.save(TOPIC, 0, 15, {"total": 99})  # the old owner, not yet aware, checkpoints late
        with pytest.raises(StaleStateError, match="another owner checkpointed"):
            old.store.sync()
        restored = later.store.load(TOPIC, 0)  # its record is on the topic, after the new owner's
        assert restored is not None and restored.state == {"total": 2} and restored.next_offset == 20
    finally:
        for replica in (old, new, later):
            replica.close()


def test_the_newest_complete_record_wins_and_a_torn_one_is_passed_over() -> None:
    key = f"{TOPIC}|0"
    newest = Newest(key)
    for value in encode(key, 1, 1, 5, {"n": 1}):
        newest.add(key.encode(), value)
    torn = encode(key, 1, 2, 9, {"n": os.urandom(2 * CHUNK_BYTES).hex()})
    assert len(torn) > 1
    newest.add(key.encode(), torn[0])  # a crash cut this checkpoint short
    stale = encode(key, 0, 7, 3, {"n": 0})
    for value in stale:
        newest.add(key.encode(), value)
    newest.add(b"other|0", encode("other|0", 9, 9, 1, {})[0])
    found = newest.found()
    assert found is not None and found.header["seq"] == 1 and found.max_epoch == 1


def test_a_state_that_is_not_json_is_named() -> None:
    with pytest.raises(StateError, match="not JSON-serialisable"):
        encode("k|0", 1, 1, 0, {"at": object()})
