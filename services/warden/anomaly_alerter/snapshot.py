"""The alerter's whole state as one JSON document.

The alerter's windows span partitions (a tenant's runs are spread over all of them), so its
state is not per partition: it is one document holding, per lane, the rule state and the
records waiting in the reorder buffer. On the runtime (``dump``/``restore``) the runtime keeps the
next offset of every input partition beside it; a snapshot written before the runtime (``save``/
``load``) held them inside, under the store key ``anomaly-alerter``, which the runtime reads as an
upgrade in place.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from warden.alerting.ordering import ReorderBuffer
from warden.anomaly_alerter.processor import AlerterState, Lane, sort_key
from warden.core.events import AgentEvent
from warden.core.records import PolicyDecision
from warden.state.snapshots import SnapshotStore

KEY = "anomaly-alerter"  # the store's "topic"; partition 0; next_offset unused (offsets are inside)
_STATE = TypeAdapter(AlerterState)

Offsets = dict[tuple[str, int], int]


def _lane(state: AlerterState, buffer: ReorderBuffer) -> dict[str, Any]:
    pending = [{"source": list(source), "kind": "event" if isinstance(item, AgentEvent) else "decision",
                "record": item.model_dump(mode="json")}
               for _, _, _, _, (source, item) in sorted(buffer.heap)]
    newest = [[list(s), t] for s, t in buffer.newest.items() if t is not None and isinstance(s, tuple)]
    return {"state": _STATE.dump_python(state, mode="json"), "pending": pending, "newest": newest,
            "released_ms": buffer.released_ms, "late": buffer.late}


def _restore_lane(document: dict[str, Any], buffer: ReorderBuffer) -> AlerterState:
    for source, newest in document.get("newest", []):
        buffer.newest[tuple(source)] = newest
    for entry in document["pending"]:
        model = AgentEvent if entry["kind"] == "event" else PolicyDecision
        item = model.model_validate(entry["record"])
        at, rank, ident = sort_key(item)
        source = tuple(entry["source"])
        buffer.push(source, int(at.timestamp() * 1000), rank, ident, (source, item))
    buffer.released_ms = int(document.get("released_ms", buffer.released_ms))
    buffer.late = int(document.get("late", 0))
    return _STATE.validate_python(document["state"])


def dump(states: dict[Lane, AlerterState], buffers: dict[Lane, ReorderBuffer]) -> dict[str, Any]:
    return {"lanes": {lane: _lane(states[lane], buffers[lane]) for lane in states}}


def restore(document: dict[str, Any], buffers: dict[Lane, ReorderBuffer]) -> dict[Lane, AlerterState]:
    """Fills ``buffers`` with the records that waited in them; returns each lane's rule state."""
    return {lane: _restore_lane(document["lanes"][lane], buffers[lane]) for lane in buffers}


def offsets_of(document: dict[str, Any]) -> Offsets:
    """The input positions a snapshot written before the runtime kept inside (full topic names)."""
    return {(t, int(p)): int(o) for t, p, o in document["offsets"]}


def save(store: SnapshotStore, states: dict[Lane, AlerterState], buffers: dict[Lane, ReorderBuffer],
         offsets: Offsets) -> None:
    store.save(KEY, 0, 0, {**dump(states, buffers), "offsets": [[t, p, o] for (t, p), o in sorted(offsets.items())]})


def load(store: SnapshotStore, buffers: dict[Lane, ReorderBuffer]) -> tuple[dict[Lane, AlerterState], Offsets] | None:
    snapshot = store.load(KEY, 0)
    if snapshot is None:
        return None
    return restore(snapshot.state, buffers), offsets_of(snapshot.state)
