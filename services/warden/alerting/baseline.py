"""Robust baselines: median and MAD over a series' own recent history.

A mean and standard deviation are dragged up by the very spikes they should detect; the
median and the median absolute deviation ignore up to half the history being outliers, so a
tenant that spiked yesterday is still compared with its ordinary self today.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

MAD_TO_SIGMA = 1.4826  # MAD * this estimates the standard deviation of normal data


def median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of an empty series")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def mad(values: Iterable[float]) -> float:
    items = list(values)
    centre = median(items)
    return median(abs(v - centre) for v in items)


@dataclass
class BucketSeries:
    """Event-time buckets of one quantity (spend, denies, runs): an open bucket and closed history.

    ``value`` holds one or more numbers per bucket (e.g. runs and successes), so ratio rules
    keep their numerator and denominator together.
    """

    bucket_s: int
    history_size: int
    index: int | None = None  # the open bucket's number (epoch seconds // bucket_s)
    open: list[float] = field(default_factory=lambda: [0.0, 0.0])
    history: deque[tuple[float, ...]] = field(default_factory=deque)

    def bucket_of(self, epoch_s: float) -> int:
        return int(epoch_s // self.bucket_s)

    def advance(self, index: int) -> list[tuple[int, tuple[float, ...]]]:
        """Close every bucket before ``index``; gaps close as zero. Returns the closed (index, value)s."""
        closed: list[tuple[int, tuple[float, ...]]] = []
        if self.index is None:
            self.index = index
            return closed
        if index <= self.index:
            return closed
        first = tuple(self.open)
        closed.append((self.index, first))
        self._push(first)
        gap = index - self.index - 1
        zeros = tuple(0.0 for _ in self.open)
        for i in range(min(gap, self.history_size)):  # older zeros would fall out of the history anyway
            closed.append((index - min(gap, self.history_size) + i, zeros))
            self._push(zeros)
        self.index = index
        self.open = [0.0 for _ in self.open]
        return closed

    def _push(self, value: tuple[float, ...]) -> None:
        self.history.append(value)
        while len(self.history) > self.history_size:
            self.history.popleft()

    def add(self, index: int, *amounts: float) -> bool:
        """Adds to the open bucket; False for a bucket already closed (a late record, not counted)."""
        if self.index is not None and index < self.index:
            return False
        self.advance(index)
        for i, amount in enumerate(amounts):
            self.open[i] += amount
        return True

    def column(self, i: int = 0) -> list[float]:
        return [v[i] for v in self.history]


def upper_limit(history: list[float], mad_k: float, min_ratio: float, floor: float) -> float:
    """The value above which a bucket is "far above" its baseline: k robust sigmas, a ratio and a floor.

    The ratio and the floor keep a flat, near-zero history (MAD 0) from firing on noise.
    """
    centre = median(history)
    spread = mad(history) * MAD_TO_SIGMA
    return max(centre + mad_k * spread, centre * min_ratio, floor)


def lower_limit(history: list[float], mad_k: float, min_drop: float) -> float:
    """The value below which a rate has dropped: k robust sigmas and at least ``min_drop`` under the median."""
    centre = median(history)
    spread = mad(history) * MAD_TO_SIGMA
    return min(centre - mad_k * spread, centre - min_drop)
