"""Spend windows: deltas add up to the stream whatever the flush points, and state round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warden.cost.windows import SpendWindows

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def add(windows: SpendWindows, seconds: float, position: int, cost: float, tenant: str = "t") -> list:
    at = T0 + timedelta(seconds=seconds)
    for delta in windows.delta(at, position, tenant, "wf", "m", "r"):
        delta.cost_usd += cost
        delta.calls += 1
    return windows.advance(at)


def test_a_minute_window_closes_once_event_time_passes_its_end_plus_lateness() -> None:
    windows = SpendWindows("p0", lateness_ms=10_000)
    assert add(windows, 5, 0, 1.0) == []
    assert add(windows, 65, 1, 2.0) == []  # 12:01:05 < 12:01:00 + 10 s lateness
    closed = add(windows, 71, 2, 4.0)
    assert [(r.window, r.window_start.minute, r.cost_usd, r.calls) for r in closed] == [("1m", 0, 1.0, 1)]


def test_a_late_event_becomes_its_own_delta_with_its_own_id() -> None:
    windows = SpendWindows("p0", lateness_ms=0)
    add(windows, 5, 0, 1.0)
    first = add(windows, 61, 1, 1.0)
    late = add(windows, 30, 2, 0.5)  # back in the closed 12:00 minute
    assert [r.cost_usd for r in first if r.window == "1m"] == [1.0]
    assert [(r.window_start.minute, r.cost_usd) for r in late if r.window == "1m"] == [(0, 0.5)]
    assert {r.rollup_id for r in first} .isdisjoint({r.rollup_id for r in late})


def test_flushes_anywhere_change_the_rows_but_never_the_totals() -> None:
    costs = [(i * 7.3, i, round(0.001 * (i % 13 + 1), 6)) for i in range(400)]
    reference = SpendWindows("p0")
    rows = [r for s, p, c in costs for r in add(reference, s, p, c)] + reference.flush()
    flushed = SpendWindows("p0")
    rows2 = []
    for s, p, c in costs:
        rows2 += add(flushed, s, p, c)
        if p % 37 == 0:
            rows2 += flushed.flush()
    rows2 += flushed.flush()
    for window in ("1m", "1h"):
        total = sum(c for _, _, c in costs)
        assert round(sum(r.cost_usd for r in rows if r.window == window), 9) == round(total, 9)
        assert round(sum(r.cost_usd for r in rows2 if r.window == window), 9) == round(total, 9)
    assert len(rows2) > len(rows)
    assert len({r.rollup_id for r in rows2}) == len(rows2)


def test_state_round_trips_mid_window_and_continues_identically() -> None:
    one, two = SpendWindows("p3"), SpendWindows("p3")
    for i in range(50):
        add(one, i * 3.0, i, 0.01)
        add(two, i * 3.0, i, 0.01)
    restored = SpendWindows.from_json(two.to_json())
    rest_one = [r for i in range(50, 120) for r in add(one, i * 3.0, i, 0.02)] + one.flush()
    rest_two = [r for i in range(50, 120) for r in add(restored, i * 3.0, i, 0.02)] + restored.flush()
    assert rest_one == rest_two
