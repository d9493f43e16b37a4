"""The routing threshold holds the routed share on drifting streams (the issue's required test)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from warden.risk.threshold import Threshold

SHARE = 0.075
STEP = 0.02
CALLS = 50_000
WINDOW = 5_000


def clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def gradual(rng: random.Random, i: int) -> float:
    """The mean climbs from 0.2 to 0.7 over the stream."""
    return clip(rng.gauss(0.2 + 0.5 * i / CALLS, 0.08))


def jumps(rng: random.Random, i: int) -> float:
    """Abrupt regime changes mid-window: location and spread both jump."""
    regime = (i + 2_500) // 7_000 % 3
    return clip(rng.gauss((0.25, 0.6, 0.4)[regime], (0.05, 0.15, 0.02)[regime]))


def atoms(rng: random.Random, i: int) -> float:
    """Few distinct scores (identical calls score identically), their mix drifting: ties at the threshold."""
    heavy = 0.02 + 0.2 * i / CALLS
    return rng.choices((0.1, 0.3, 0.45, 0.8), weights=(0.6 - heavy, 0.3, 0.1, heavy))[0]


def seasonal(rng: random.Random, i: int) -> float:
    """A daily cycle of the mix: more risky calls at some hours."""
    return clip(rng.betavariate(2, 5) + 0.25 * math.sin(i / 3_000))


@pytest.mark.parametrize("stream", [gradual, jumps, atoms, seasonal], ids=lambda f: f.__name__)
def test_the_routed_share_stays_within_5_to_10_percent_in_every_window_of_5000_calls(
        stream: Callable[[random.Random, int], float]) -> None:
    rng = random.Random(11)
    threshold = Threshold(0.5)
    routed = [threshold.observe(stream(rng, i), SHARE, STEP) for i in range(CALLS)]
    prefix = [0]
    for r in routed:
        prefix.append(prefix[-1] + r)
    shares = [(prefix[start + WINDOW] - prefix[start]) / WINDOW for start in range(0, CALLS - WINDOW + 1, 250)]
    assert all(0.05 <= s <= 0.10 for s in shares), (min(shares), max(shares))
    # and it is a quantile, not a counter: the routed calls are the high ones
    assert abs(sum(routed) / CALLS - SHARE) < 0.005


def test_the_window_bound_follows_from_the_update_rule() -> None:
    """|routed - share * n| <= 1 / step for any n consecutive calls, even on an adversarial stream
    (one that keeps the threshold off the bounds 0 and 1, where the clamp would cut a move short)."""
    threshold = Threshold(0.5)
    rng = random.Random(5)
    history = []
    for i in range(20_000):
        # always just above or just below the current estimate: the worst case for a quantile tracker
        near = threshold.value + (0.001 if rng.random() < 0.5 else -0.001)
        score = min(0.95, max(0.05, near)) if i % 3 else rng.uniform(0.05, 0.95)
        history.append(threshold.observe(score, SHARE, STEP))
    for n in (500, 2_000, 5_000):
        for start in range(0, len(history) - n, 997):
            assert abs(sum(history[start:start + n]) - SHARE * n) <= 1 / STEP + 1e-9


def test_scores_at_the_bounds_keep_the_threshold_in_0_1() -> None:
    threshold = Threshold(0.5)
    for _ in range(1_000):
        threshold.observe(1.0, SHARE, STEP)
    assert threshold.value <= 1.0
    for _ in range(10_000):
        threshold.observe(0.0, SHARE, STEP)
    assert threshold.value == 0.0
    assert not threshold.observe(0.0, SHARE, STEP)  # a score of 0 is never "above"


def test_warm_up_uses_the_exact_quantile_so_a_poor_initial_value_does_not_starve_the_first_calls() -> None:
    rng = random.Random(3)
    scores = [rng.uniform(0.0, 0.4) for _ in range(600)]
    cold, warm = Threshold(0.9), Threshold(0.9)
    cold_routed = sum(cold.observe(s, SHARE, STEP) for s in scores)
    warm_routed = sum(warm.observe(s, SHARE, STEP, warmup=200) for s in scores)
    assert cold_routed < 0.03 * len(scores)  # the slow climb down from 0.9
    assert 0.05 <= warm_routed / len(scores) <= 0.10
    assert warm.warming is None and 0.3 < warm.value < 0.4  # handed over to the streaming estimate
    assert Threshold.from_list(warm.to_list()) == warm
