"""Event-time order for a processor whose state spans partitions.

The alerter's tenant- and workflow-level windows see runs from every partition of two topics.
A consumer interleaves partitions in whatever order fetches return, and `warden replay` reads
a file; feeding either order straight into the windows would give different alerts. Instead
both feed this buffer, which releases records in one total order, (event time, rank, id), as
soon as no input can still deliver an earlier one: the watermark is the oldest "newest time
seen" over the inputs that are not idle, minus an allowed lateness for disorder inside one
input. A record that arrives behind what was already released is late: it is still processed
(nothing is dropped) and counted, and only then can live and replay differ.
See docs/decisions/0003-alerting-on-event-time.md.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

NEVER = -(2**62)


@dataclass
class ReorderBuffer:
    lateness_ms: int = 100
    heap: list[tuple[int, int, str, int, Any]] = field(default_factory=list)
    newest: dict[Hashable, int | None] = field(default_factory=dict)  # None: assigned, nothing seen yet
    idle: set[Hashable] = field(default_factory=set)
    released_ms: int = NEVER
    late: int = 0
    _seq: int = 0

    def register(self, source: Hashable) -> None:
        """An input that may deliver records: it holds the watermark until it delivers or goes idle."""
        self.newest.setdefault(source, None)

    def forget(self, source: Hashable) -> None:
        self.newest.pop(source, None)
        self.idle.discard(source)

    def set_idle(self, source: Hashable, idle: bool) -> None:
        if idle:
            self.idle.add(source)
        else:
            self.idle.discard(source)

    def advance(self, source: Hashable, time_ms: int) -> None:
        """The source delivered a record this buffer does not need: event time still moved on there."""
        self.idle.discard(source)
        seen = self.newest.get(source)
        self.newest[source] = time_ms if seen is None else max(seen, time_ms)

    def push(self, source: Hashable, time_ms: int, rank: int, ident: str, item: Any) -> None:
        self.advance(source, time_ms)
        if time_ms < self.released_ms:
            self.late += 1
        self._seq += 1  # ties on (time, rank, id) keep arrival order and never compare items
        heapq.heappush(self.heap, (time_ms, rank, ident, self._seq, item))

    def watermark(self) -> int | None:
        """Records strictly older than this may be released; None means everything may be."""
        active = [t for s, t in self.newest.items() if s not in self.idle]
        if not active:
            return None
        if any(t is None for t in active):
            return NEVER
        return min(t for t in active if t is not None) - self.lateness_ms

    def release(self, flush: bool = False, before: int | None = None) -> list[Any]:
        """``before`` holds records back further (a lane that knows a record it needs is still coming)."""
        limit = None if flush else self.watermark()
        if before is not None and not flush:
            limit = before if limit is None else min(limit, before)
        out = []
        while self.heap and (limit is None or self.heap[0][0] < limit):
            time_ms, _, _, _, item = heapq.heappop(self.heap)
            self.released_ms = max(self.released_ms, time_ms)
            out.append(item)
        return out

    def __len__(self) -> int:
        return len(self.heap)
