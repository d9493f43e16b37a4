"""The runtime's checkpoint document: state, seen ids, positions and outbox survive a round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.core.errors import StateError
from warden.core.seen import SeenIds
from warden.runtime.store import Checkpoint, Pending, from_document, is_runtime_document, to_document
from warden.state.snapshots import SnapshotStore


def test_a_checkpoint_round_trips_through_the_snapshot_store(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    checkpoint = Checkpoint({"total": 3}, SeenIds(2, ["a", "b", "c"]), {("t.agent.events", 4): 17},
                            [Pending("t.cost.rollups", b"acme", b"\x00\x01avro")])
    store.save("t.agent.events", 4, 17, to_document(checkpoint))
    loaded = store.load("t.agent.events", 4)
    assert loaded is not None and is_runtime_document(loaded.state)
    back = from_document(loaded.state, seen_capacity=2)
    assert back.state == {"total": 3} and back.seen is not None and list(back.seen) == ["b", "c"]
    assert back.positions == {("t.agent.events", 4): 17} and back.outbox == checkpoint.outbox


def test_a_pre_runtime_snapshot_is_told_apart_and_a_broken_one_is_named() -> None:
    assert not is_runtime_document({"spend": {}, "outbox": []})
    with pytest.raises(StateError, match="positions"):
        from_document({"warden.runtime": 1, "state": None, "outbox": []}, 10)


def test_seen_ids_are_bounded_and_forget_the_oldest_first() -> None:
    seen = SeenIds(3)
    assert [seen.first_time(i) for i in "abca"] == [True, True, True, False]
    assert seen.first_time("d") and "a" not in seen and not seen.first_time("d")
    assert SeenIds.from_json(seen.to_json()).to_json() == seen.to_json()
