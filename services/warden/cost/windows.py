"""Tumbling event-time spend windows (1 minute and 1 hour) per tenant / workflow / model / route.

Rows are additive deltas, not final totals: a window is emitted when the partition's event
time passes its end plus the allowed lateness; an event later than that opens a new delta for
the same window, and an idle partition's open windows are flushed as deltas too. So every
priced token lands in exactly one row, sums over rows equal the stream's totals whatever the
arrival order, and nothing waits forever for a quiet tenant. Each delta is named by where its
first event sits in the input (source, position), which a re-processing after a crash
reproduces exactly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from warden.core.records import CostRollup

_ROLLUPS = uuid.UUID("0b7e5a52-9d0c-4f61-8a3e-2c5d7f1e9b44")
WINDOWS: dict[str, int] = {"1m": 60_000, "1h": 3_600_000}
RUNS = ""  # the model of rows that count run outcomes rather than tokens (and their route, for unrouted runs)

Key = tuple[str, int, str, str, str, str]  # window, start ms, tenant, workflow, model, route


def millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def from_millis(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


@dataclass(slots=True)  # one per open window and key: 100k keys hold 200k of them
class Delta:
    first: int  # input position of the first event in this delta: its identity
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    calls: int = 0
    unpriced_calls: int = 0
    cost_usd: float = 0.0
    runs_completed: int = 0
    runs_succeeded: int = 0
    runs_over_ceiling: int = 0
    versions: set[str] = field(default_factory=set)
    cache_hits: int = 0
    saved_tokens: int = 0
    saved_usd: float = 0.0
    runs_escalated: int = 0
    run_cost_usd: float = 0.0

    def to_json(self) -> list[Any]:
        return [self.first, self.input_tokens, self.output_tokens, self.cached_tokens, self.calls,
                self.unpriced_calls, self.cost_usd, self.runs_completed, self.runs_succeeded,
                self.runs_over_ceiling, sorted(self.versions), self.cache_hits, self.saved_tokens, self.saved_usd,
                self.runs_escalated, self.run_cost_usd]

    @classmethod
    def from_json(cls, data: list[Any]) -> Delta:
        """Snapshots written before the cache fields hold 11 values, before the route fields 14."""
        first, inp, out, cached, calls, unpriced, cost, completed, succeeded, over, versions = data[:11]
        hits, saved_tokens, saved_usd = data[11:14] if len(data) >= 14 else (0, 0, 0.0)
        escalated, run_cost = data[14:16] if len(data) >= 16 else (0, 0.0)
        return cls(first, inp, out, cached, calls, unpriced, cost, completed, succeeded, over, set(versions),
                   hits, saved_tokens, saved_usd, escalated, run_cost)


@dataclass
class SpendWindows:
    """One source's (partition's) open deltas and its event-time watermark."""

    source: str
    lateness_ms: int = 10_000
    watermark: int | None = None  # max event time seen, ms
    open: dict[int, dict[Key, Delta]] = field(default_factory=dict)  # by window end, ms

    def delta(self, at: datetime, position: int, tenant: str, workflow: str, model: str,
              route: str) -> list[Delta]:
        """The open delta of each window size for this event, opened at `position` if new."""
        ms = millis(at)
        found = []
        for window, size in WINDOWS.items():
            start = ms - ms % size
            bucket = self.open.setdefault(start + size, {})
            key = (window, start, tenant, workflow, model, route)
            delta = bucket.get(key)
            if delta is None:
                delta = bucket[key] = Delta(position)
            found.append(delta)
        return found

    def advance(self, at: datetime) -> list[CostRollup]:
        ms = millis(at)
        if self.watermark is None or ms > self.watermark:
            self.watermark = ms
        cutoff = self.watermark - self.lateness_ms
        return self._emit([end for end in self.open if end <= cutoff])

    def flush(self) -> list[CostRollup]:
        return self._emit(list(self.open))

    def _emit(self, ends: list[int]) -> list[CostRollup]:
        rows = []
        for end in sorted(ends):
            for key, delta in self.open.pop(end).items():
                rows.append(self.rollup(key, end, delta))
        return rows

    def rollup(self, key: Key, end: int, delta: Delta) -> CostRollup:
        window, start, tenant, workflow, model, route = key
        rollup_id = uuid.uuid5(_ROLLUPS, f"{self.source}|{delta.first}|{window}|{start}|{tenant}|{workflow}|"
                                         f"{model}|{route}")
        return CostRollup(
            window_start=from_millis(start), window_end=from_millis(end), tenant_id=tenant, workflow=workflow,
            model=model, input_tokens=delta.input_tokens, output_tokens=delta.output_tokens,
            cost_usd=delta.cost_usd, runs_completed=delta.runs_completed, runs_succeeded=delta.runs_succeeded,
            rollup_id=str(rollup_id), window=window, route=route, cached_tokens=delta.cached_tokens,
            calls=delta.calls, unpriced_calls=delta.unpriced_calls, price_version=",".join(sorted(delta.versions)),
            runs_over_ceiling=delta.runs_over_ceiling, cache_hits=delta.cache_hits, saved_tokens=delta.saved_tokens,
            saved_usd=delta.saved_usd, runs_escalated=delta.runs_escalated, run_cost_usd=delta.run_cost_usd,
        )

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "lateness_ms": self.lateness_ms, "watermark": self.watermark,
                "open": [[end, [[list(key), delta.to_json()] for key, delta in bucket.items()]]
                         for end, bucket in self.open.items()]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SpendWindows:
        windows = cls(data["source"], data["lateness_ms"], data["watermark"])
        for end, items in data["open"]:
            windows.open[end] = {tuple(key): Delta.from_json(delta) for key, delta in items}
        return windows
