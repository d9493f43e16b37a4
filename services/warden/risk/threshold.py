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
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Threshold:
    value: float

    def observe(self, score: float, share: float, step: float) -> bool:
        """Whether ``score`` is in the top ``share`` (compared before the update), then update."""
        above = score > self.value
        self.value += step * ((1.0 - share) if above else -share)
        self.value = min(1.0, max(0.0, self.value))
        return above
