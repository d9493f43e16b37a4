"""Snapshots round-trip, never leave half a file, and refuse a file that is not theirs."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from warden.core.errors import StateError
from warden.state.snapshots import SnapshotStore


def test_a_snapshot_round_trips_with_its_offset(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "state")
    assert store.load("agent.events", 3) is None
    state = {"runs": {"r1": [1, 2.5, "x"]}, "sketch": [0.1, 0.2]}
    store.save("agent.events", 3, 1234, state)
    loaded = store.load("agent.events", 3)
    assert loaded is not None
    assert (loaded.next_offset, loaded.state) == (1234, state)
    assert store.load("agent.events", 2) is None


def test_a_later_save_replaces_the_earlier_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.save("t", 0, 1, {"n": 1})
    store.save("t", 0, 9, {"n": 9})
    loaded = store.load("t", 0)
    assert loaded is not None and loaded.next_offset == 9 and loaded.state == {"n": 9}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t-0.snapshot"]


def test_a_corrupt_snapshot_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.save("t", 1, 5, {})
    store.path("t", 1).write_bytes(b"not zlib at all")
    with pytest.raises(StateError, match=r"t-1\.snapshot is unreadable"):
        store.load("t", 1)


def test_a_snapshot_of_another_partition_is_refused(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.save("t", 1, 5, {})
    store.path("t", 1).rename(store.path("t", 2))
    with pytest.raises(StateError, match=r"expected format 1 of t\[2\]"):
        store.load("t", 2)


def test_state_that_is_not_json_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    with pytest.raises(StateError, match="not JSON-serialisable"):
        store.save("t", 0, 1, {"bad": object()})
    assert store.load("t", 0) is None
    with pytest.raises(StateError, match="next_offset must be >= 0"):
        store.save("t", 0, -1, {})


def test_a_state_given_as_its_json_text_is_saved_as_the_same_document(tmp_path: Path) -> None:
    """The changelog store hands its cache the text it wrote (the state is not encoded twice)."""
    state = {"runs": {"r1": [1, 2.5, None, "ü"]}, "clock": {"agent.events[0]": 17}}
    plain, given = SnapshotStore(tmp_path / "a"), SnapshotStore(tmp_path / "b")
    plain.save("agent.events", 3, 42, state)
    given.save("agent.events", 3, 42, state, json.dumps(state, separators=(",", ":")))
    documents = [json.loads(zlib.decompress(store.path("agent.events", 3).read_bytes())) for store in (plain, given)]
    for document in documents:
        document.pop("saved_at")
    assert documents[0] == documents[1]
    loaded = given.load("agent.events", 3)
    assert loaded is not None and (loaded.state, loaded.next_offset) == (state, 42)
