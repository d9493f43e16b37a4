"""The alerter's whole state on the runtime: each lane's rule state and ReorderBuffer, and the tool
calls the decisions lane waits on.

Records go into each lane's buffer and reach the pure ``step`` (processor.py) in event-time order
(docs/decisions/0003-alerting-on-event-time.md), so the live alerter and `warden replay` raise the
same alerts. Sources are (full topic name, partition), as in the snapshots written before the runtime.
The wall clock only says when to release, never what: a caught-up partition goes idle (it stops
holding back event time), and a decision that never comes stops being waited for.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from warden.alerting.config import AlertRules
from warden.alerting.ordering import ReorderBuffer
from warden.anomaly_alerter.processor import LANES, AlerterState, Lane, Pricer, lanes_for, sort_key, step
from warden.core.events import AgentEvent, ToolCallRequested
from warden.core.records import Alert, PolicyDecision

log = logging.getLogger("warden.anomaly_alerter")
Source = tuple[str, int]


def millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass
class Lanes:
    states: dict[Lane, AlerterState]
    buffers: dict[Lane, ReorderBuffer]
    call_capacity: int
    # Tool calls whose request reached the decisions lane but whose decision has not: the lane holds
    # its event time below the oldest, so an evaluator that stalls does not make its decisions late
    # (bounded by a wall-clock wait). None: not stamped yet (the next advance stamps it).
    undecided: dict[str, tuple[int, float | None]] = field(default_factory=dict)  # call_id -> (time ms, seen)
    undecided_heap: list[tuple[int, str]] = field(default_factory=list)
    decided_first: OrderedDict[str, None] = field(default_factory=OrderedDict)  # decisions before their request

    @classmethod
    def new(cls, rules: AlertRules, lateness_ms: int, call_capacity: int, dedupe_window: int) -> Lanes:
        return cls({lane: AlerterState.new(lane, rules, call_capacity, dedupe_window) for lane in LANES},
                   {lane: ReorderBuffer(lateness_ms) for lane in LANES}, call_capacity)

    @property
    def waiting(self) -> int:
        return sum(len(b) for b in self.buffers.values())

    @property
    def late(self) -> int:
        return sum(b.late for b in self.buffers.values())

    def caught_up(self) -> bool:
        """Nothing waits and every input is idle (tests and benchmarks wait for this)."""
        return self.waiting == 0 and all(b.watermark() is None for b in self.buffers.values())

    def register(self, source: Source, lanes: tuple[Lane, ...]) -> None:
        for lane in lanes:
            self.buffers[lane].register(source)

    def forget(self, source: Source) -> None:
        for buffer in self.buffers.values():
            buffer.forget(source)

    def set_idle(self, source: Source) -> None:
        for buffer in self.buffers.values():
            buffer.set_idle(source, True)

    def push(self, source: Source, record: BaseModel, source_lanes: tuple[Lane, ...]) -> None:
        at, rank, ident = sort_key(record)
        time_ms = millis(at)
        self.track_decision(record, time_ms)
        wanted = lanes_for(record)
        for lane in wanted:
            self.buffers[lane].push(source, time_ms, rank, ident, (source, record))
        for lane in source_lanes:  # a lane this record does not feed still learns how far event time got there
            if lane not in wanted:
                self.buffers[lane].advance(source, time_ms)

    def track_decision(self, record: BaseModel, time_ms: int, seen: float | None = None) -> None:
        if isinstance(record, PolicyDecision):
            if self.undecided.pop(record.call_id, None) is None:
                self.decided_first[record.call_id] = None
                while len(self.decided_first) > self.call_capacity:
                    self.decided_first.popitem(last=False)
        elif isinstance(record, AgentEvent) and isinstance(record.body, ToolCallRequested):
            call_id = record.body.call_id
            if self.decided_first.pop(call_id, 0) is None:
                return
            self.undecided[call_id] = (time_ms, seen)
            heapq.heappush(self.undecided_heap, (time_ms, call_id))

    def stamp(self, now: float) -> None:
        """Calls read since the last advance start their wait now (to within one poll)."""
        for call_id, (time_ms, seen) in self.undecided.items():
            if seen is None:
                self.undecided[call_id] = (time_ms, now)

    def decisions_hold(self, now: float | None, wait_s: float, counters: Counter[str]) -> int | None:
        """The oldest undecided call's event time, after dropping decided ones and, given ``now``, ones
        waited on longer than ``wait_s``."""
        heap = self.undecided_heap
        while heap:
            time_ms, call_id = heap[0]
            entry = self.undecided.get(call_id)
            if entry is None or entry[0] != time_ms:
                heapq.heappop(heap)
                continue
            seen = entry[1]
            if now is not None and seen is not None and now - seen > wait_s:
                heapq.heappop(heap)
                del self.undecided[call_id]
                counters["decisions_not_seen"] += 1
                continue
            return time_ms
        return None

    def rebuild_undecided(self) -> None:
        """After a restore: the requests waiting in the decisions lane whose decision is not there yet."""
        records = [item for _, _, _, _, (_, item) in self.buffers["decisions"].heap]
        for record in records:
            if isinstance(record, AgentEvent):
                self.track_decision(record, millis(record.occurred_at))
        for record in records:
            if isinstance(record, PolicyDecision):
                self.track_decision(record, 0)

    def release(self, rules: AlertRules, price: Pricer, hold: int | None,
                counters: Counter[str]) -> list[tuple[Lane, Alert]]:
        """Step every record each lane may release now, in its order; one that breaks a rule is skipped."""
        out: list[tuple[Lane, Alert]] = []
        for lane in LANES:
            released = self.buffers[lane].release(before=hold if lane == "decisions" else None)
            for _, record in released:
                try:
                    self.states[lane], alerts = step(self.states[lane], rules, record, price)
                except Exception:  # one poison record must not stop every page
                    log.exception("record %s could not be evaluated by the alert rules; skipped",
                                  getattr(record, "event_id", "?"))
                    counters["evaluation_failures"] += 1
                    continue
                out += [(lane, alert) for alert in alerts]
            counters["processed"] += len(released)
        return out
