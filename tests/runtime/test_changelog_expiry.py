"""Checkpoints that expire (the changelog on the embedded durable broker, ADR 0023): the runtime re-writes an
unchanged state's checkpoint within the store's refresh, and a restore takes a checkpoint older than its
expiry for gone, reads the local snapshot instead, and still fences the expired owner by its epoch.
The session broker keeps everything; the store's ttl_s/refresh_s are set as on s3 storage, shorter."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.ledger_sink.helpers import produce, simulated, wait_for
from tests.runtime.test_app import Counting, void
from tests.runtime.test_changelog import TOPIC, Replica
from warden.core.settings import WardenSettings
from warden.runtime.app import App
from warden.runtime.changelog import ChangelogStore
from warden.state.snapshots import SnapshotStore

pytestmark = pytest.mark.integration


def expiring(store: ChangelogStore, ttl_s: float, refresh_s: float) -> None:
    store.ttl_s, store.refresh_s = ttl_s, refresh_s


def test_an_unchanged_state_is_checkpointed_again_within_the_refresh(topics: WardenSettings) -> None:
    group = f"rf-{uuid.uuid4().hex[:8]}"
    service = App(topics, "counting")
    store = ChangelogStore(topics, group, service.producer, SnapshotStore(topics.data_dir / "state" / group))
    expiring(store, ttl_s=3.0, refresh_s=1.0)
    service.add(Counting(), group, store)
    service.start()
    try:
        produce(topics, simulated(30, "rf"))
        wait_for(lambda: service.counters["events"] >= 30, step=lambda: void(service.poll_once()), what="30 records")
        wait_for(lambda: not any(s.forced or s.positions != s.saved for s in service.tasks[0].slots.values()),
                 step=lambda: void(service.poll_once()), what="every state checkpointed")
        before = dict(store.seqs)
        assert before, "the counted states were checkpointed"
        quiet = time.monotonic()
        while time.monotonic() - quiet < 3.5:  # no input: only the refresh writes
            service.poll_once()
        after = dict(store.seqs)
        assert all(after[key] >= before[key] + 2 for key in before), (before, after)
    finally:
        service.close()


def test_an_expired_checkpoint_gives_way_to_the_local_snapshot_and_keeps_its_epoch(
        topics: WardenSettings, tmp_path: pytest.TempPathFactory) -> None:
    group = f"ex-{uuid.uuid4().hex[:8]}"
    old = Replica(topics, group, tmp_path / "a")  # type: ignore[operator]
    try:
        expiring(old.store, ttl_s=2.0, refresh_s=0.5)
        old.store.load(TOPIC, 1)
        old.store.save(TOPIC, 1, 10, {"total": 1})
        old.store.sync()
        fresh = Replica(topics, group, tmp_path / "b")  # type: ignore[operator]
        try:
            expiring(fresh.store, ttl_s=2.0, refresh_s=0.5)
            restored = fresh.store.load(TOPIC, 1)  # within its expiry: the changelog's, claimed at epoch 2
            assert restored is not None and restored.state == {"total": 1}
            assert fresh.store.epochs[f"{TOPIC}|1"] == 2
        finally:
            fresh.close()
        time.sleep(1.7)  # older than the expiry less one refresh: the stack was stopped longer than that
        local = SnapshotStore(tmp_path / "c")  # type: ignore[operator]
        local.save(TOPIC, 1, 12, {"total": 7})
        later = Replica(topics, group, tmp_path / "c")  # type: ignore[operator]
        try:
            expiring(later.store, ttl_s=2.0, refresh_s=0.5)
            restored = later.store.load(TOPIC, 1)
            assert restored is not None and restored.state == {"total": 7} and restored.next_offset == 12
            assert later.store.epochs[f"{TOPIC}|1"] == 3  # above every epoch on the topic, expired or not
            later.store.save(TOPIC, 1, 20, {"total": 8})
            later.store.sync()
        finally:
            later.close()
        check = Replica(topics, group, tmp_path / "d")  # type: ignore[operator]
        try:
            restored = check.store.load(TOPIC, 1)  # no expiry: the newest (epoch, seq) wins
            assert restored is not None and restored.state == {"total": 8}
        finally:
            check.close()
    finally:
        old.close()
