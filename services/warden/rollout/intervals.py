"""The intervals behind a gate decision, and why each one (README "Rollouts" says the same).

A gate is judged on an interval, never on the point value: it passes when the whole interval is on
the good side of the gate, fails when the whole interval is on the bad side, and is inconclusive
(the rollout holds) when the interval straddles it. Every interval of one judgment is taken at
z = inv_normal(1 - alpha / 2k) for the k gates judged (Bonferroni), alpha = 1 - confidence, so the chance
that noise alone fails (or passes) any of them is at most alpha/2 per judgment, whatever k is.

- Rates (task success, violations, high severity): Wilson's score interval (warden.core.stats):
  it keeps its coverage at the small counts and extreme rates (1% violations) where gates live,
  where the normal approximation collapses to [0, 0] at zero events.
- Cost per task: the normal interval of a mean, mean +/- z*s/sqrt(n) over per-run spend. Per-run cost is
  skewed but bounded, and a gate needs min_runs (default 200) runs, where the central limit theorem
  holds well; Student's t would add < 1% width at n ≥ 200 and needs a quantile function the standard
  library does not have.
- Latency p95: the distribution-free interval of a quantile from order statistics. The number of
  runs below the true p95 is Binomial(n, 0.95), so [x₍ₗ₎, x₍ᵤ₎] with l, u = n*q -/+ z*sqrt(n*q*(1-q))
  (normal approximation to that binomial) covers it whatever latencies look like. With few runs u
  passes n and the upper bound is unbounded: a p95 cannot be shown small on 50 runs, and the gate holds.
- Success drop vs the baseline: Newcombe's hybrid score interval for a difference of proportions
  (built from the two Wilson intervals; keeps coverage where the Wald difference does not).
- Cost increase vs the baseline: the delta-method interval of the log of the ratio of the two means,
  exp(log r +/- z*sqrt(se1^2/m1^2 + se2^2/m2^2)) - 1: a ratio's interval is skewed, the log's is not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

from warden.core.stats import wilson

Interval = tuple[float, float]


def z_for(confidence: float, comparisons: int) -> float:
    """Two-sided z for a family-wise `confidence` over `comparisons` intervals (Bonferroni)."""
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence}")
    alpha = (1 - confidence) / max(1, comparisons)
    return NormalDist().inv_cdf(1 - alpha / 2)


def proportion(successes: int, n: int, z: float) -> Interval:
    return wilson(successes, n, z)


def spread(values: Sequence[float]) -> tuple[float | None, float]:
    """(mean, standard error of the mean) of per-run values; (None, inf) at n = 0, (mean, inf) at n = 1 (one
    value says nothing about spread), and (None, inf) for values that are not all finite.

    Two passes over values divided by the largest magnitude, not a sum of squares: squares of a per-run spend
    past ~1e154 overflow to inf, and inf - inf made the variance 0, a zero-width interval that passed or failed
    a gate on noise; a running sum of squares also loses the variance of large, close values to cancellation."""
    n = len(values)
    if n == 0 or not all(map(math.isfinite, values)):
        return None, math.inf
    scale = max(map(abs, values))
    if scale == 0.0:
        return 0.0, (math.inf if n == 1 else 0.0)
    scaled = [v / scale for v in values]
    centre = math.fsum(scaled) / n
    if n == 1:
        return centre * scale, math.inf
    deviation = math.sqrt(math.fsum((v - centre) ** 2 for v in scaled) / (n - 1))
    return centre * scale, deviation / math.sqrt(n) * scale


def mean(values: Sequence[float], z: float) -> tuple[float | None, float, float]:
    """(mean, low, high) of per-run values; (None, -inf, inf) at n = 0 or for values not all finite."""
    centre, se = spread(values)
    if centre is None or math.isinf(se):
        return centre, -math.inf, math.inf
    half = z * se
    return centre, centre - half, centre + half


def quantile(values: list[float], q: float, z: float) -> Interval:
    """Order-statistic interval for the q-quantile; -inf/inf where the ranks fall outside the sample."""
    n = len(values)
    if n == 0:
        return -math.inf, math.inf
    ordered = sorted(values)
    centre, spread = n * q, z * math.sqrt(n * q * (1 - q))
    low_rank, high_rank = math.floor(centre - spread), math.ceil(centre + spread)  # 1-based ranks
    low = ordered[low_rank - 1] if low_rank >= 1 else -math.inf
    high = ordered[high_rank - 1] if high_rank <= n else math.inf
    return low, high


def difference(successes_a: int, n_a: int, successes_b: int, n_b: int, z: float) -> tuple[float | None, float, float]:
    """Newcombe's interval for p_a - p_b; (None, -1, 1) when either side has no runs."""
    if n_a == 0 or n_b == 0:
        return None, -1.0, 1.0
    p_a, p_b = successes_a / n_a, successes_b / n_b
    low_a, high_a = wilson(successes_a, n_a, z)
    low_b, high_b = wilson(successes_b, n_b, z)
    d = p_a - p_b
    return (d, d - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2),
            d + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2))


def ratio_increase(mean_a: float | None, se_a: float, mean_b: float | None, se_b: float,
                   z: float) -> tuple[float | None, float, float]:
    """mean_a / mean_b - 1 with the delta-method interval on the log ratio; unknown when a mean is missing or
    the baseline's is 0 (no ratio), and [-1, -1] for a candidate that costs nothing."""
    if (mean_a is None or mean_b is None or mean_b <= 0 or math.isinf(se_a) or math.isinf(se_b)
            or math.isinf(mean_a / mean_b)):
        return None, -1.0, math.inf
    if mean_a <= 0:
        return -1.0, -1.0, -1.0
    ratio = mean_a / mean_b
    spread = z * math.sqrt((se_a / mean_a) ** 2 + (se_b / mean_b) ** 2)
    return ratio - 1, ratio * math.exp(-spread) - 1, ratio * math.exp(spread) - 1
