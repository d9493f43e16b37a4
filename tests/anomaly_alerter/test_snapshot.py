"""The alerter's snapshot: a restored state, fed the same records, raises the same alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from warden.alerting.config import AlertRules
from warden.alerting.ordering import ReorderBuffer
from warden.anomaly_alerter import snapshot
from warden.anomaly_alerter.processor import LANES, AlerterState, Lane, lanes_for, sort_key, step
from warden.core.records import Alert
from warden.demo.simulator import Simulator
from warden.policy.bundle import DEFAULT_POLICIES, load_bundle
from warden.policy_evaluator.processor import EvaluatorState
from warden.policy_evaluator.processor import step as decide
from warden.state.snapshots import SnapshotStore

SOURCE = ("agent.events", 0)


def records(n: int) -> list[BaseModel]:
    bundle, state = load_bundle(DEFAULT_POLICIES), EvaluatorState()
    out: list[BaseModel] = []
    for event in Simulator(9, datetime(2026, 11, 2, tzinfo=UTC), "snap").events(n):
        out.append(event)
        state, outputs = decide(state, bundle, event)
        out += [o.record for o in outputs if o.topic == "policy.decisions"]
    return out


class Lanes:
    def __init__(self, rules: AlertRules) -> None:
        self.rules = rules
        self.states: dict[Lane, AlerterState] = {lane: AlerterState.new(lane, rules) for lane in LANES}
        self.buffers = {lane: ReorderBuffer(100) for lane in LANES}
        for buffer in self.buffers.values():
            buffer.register(SOURCE)

    def feed(self, items: list[BaseModel]) -> list[Alert]:
        out: list[Alert] = []
        for item in items:
            at, rank, ident = sort_key(item)
            for lane in lanes_for(item):
                self.buffers[lane].push(SOURCE, int(at.timestamp() * 1000), rank, ident, (SOURCE, item))
            for lane in LANES:
                for _, record in self.buffers[lane].release():
                    self.states[lane], alerts = step(self.states[lane], self.rules, record)
                    out += alerts
        return out


def test_a_restored_alerter_continues_exactly_where_the_saved_one_was(tmp_path: Path) -> None:
    rules = AlertRules()
    items = records(8000)
    first, rest = items[:4000], items[4000:]
    original = Lanes(rules)
    original.feed(first)
    store = SnapshotStore(tmp_path)
    snapshot.save(store, original.states, original.buffers, {SOURCE: 4000})
    restored = Lanes(rules)
    loaded = snapshot.load(store, restored.buffers)
    assert loaded is not None
    restored.states, offsets = loaded
    assert offsets == {SOURCE: 4000}
    assert sum(len(b) for b in restored.buffers.values()) == sum(len(b) for b in original.buffers.values()) > 0
    expected = original.feed(rest)
    assert expected  # the second half raises alerts, so the comparison means something
    assert restored.feed(rest) == expected
    assert snapshot.load(SnapshotStore(tmp_path / "empty"), Lanes(rules).buffers) is None
