"""Interval estimates shared by rollout gates and eval summaries.

Wilson's score interval for a proportion: unlike the normal approximation it stays inside [0, 1] and
keeps its coverage at small n and at rates near 0 or 1 (violation rates of 1%, success rates of 95%),
which is where release gates and eval sets of 200 items live.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """(low, high) for successes out of n; (0, 1) when n is 0: no evidence either way."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"wilson needs 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0 or n successes the bound is exactly 0 or 1 (the formula leaves float residue there).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high
