"""The per-workflow routing threshold: a streaming quantile estimate that holds on a drifting stream.

A stochastic-approximation quantile estimator (Robbins-Monro; "frugal streaming", Ma et al. 2013):
after each score the threshold moves up by ``step * (1 - share)`` if the score was above it and
down by ``step * share`` otherwise. One float per workflow, O(1) per call, and no window to
forget, because the estimate itself tracks the stream. Why it holds on any stream: summing the
updates over n calls, ``step * (routed - share * n) = threshold_end - threshold_start``, and the
threshold stays in [0, 1] (scores do), so in every window ``|routed - share * n| <= 1 / step``
however the distribution drifts (exactly so while the clamp to [0, 1] does not cut a move short,
which needs scores piled within one step of 0 or 1). With step 0.02 that is 50 calls: one
percentage point over 5,000 calls.

Cold start: the downward move is only ``step * share`` per call, so from a poor initial value the
estimate needs a few hundred calls to arrive. For the first ``warmup`` calls of a workflow the
threshold is therefore the exact top-``share`` quantile of the scores seen so far (kept sorted;
a few hundred floats), and the stochastic estimate starts from that quantile.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Threshold:
    value: float
    warming: list[float] | None = field(default_factory=list)  # sorted scores while warming up; None after

    def observe(self, score: float, share: float, step: float, warmup: int = 0) -> bool:
        """Whether ``score`` is in the top ``share`` (compared before the update), then update."""
        if self.warming is not None and len(self.warming) < warmup:
            if self.warming:
                self.value = _top_quantile(self.warming, share)
            above = score > self.value
            bisect.insort(self.warming, score)
            if len(self.warming) >= warmup:
                self.value = _top_quantile(self.warming, share)
                self.warming = None
            return above
        self.warming = None
        above = score > self.value
        self.value += step * ((1.0 - share) if above else -share)
        self.value = min(1.0, max(0.0, self.value))
        return above

    def to_list(self) -> list[Any]:
        return [self.value, self.warming]

    @classmethod
    def from_list(cls, data: list[Any]) -> Threshold:
        return cls(data[0], None if data[1] is None else list(data[1]))


def _top_quantile(ordered: list[float], share: float) -> float:
    """The value with ``floor(k * share)`` of the k sorted scores above it (the maximum while k * share < 1)."""
    above = math.floor(len(ordered) * share)
    return ordered[len(ordered) - 1 - above]
