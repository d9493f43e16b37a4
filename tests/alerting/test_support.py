"""Baselines, the reorder buffer and the thresholds file."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from warden.alerting.baseline import BucketSeries, lower_limit, mad, median, upper_limit
from warden.alerting.config import DEFAULT_ALERT_RULES, load_rules
from warden.alerting.ordering import ReorderBuffer
from warden.core.errors import ConfigError


def test_median_and_mad_ignore_outliers() -> None:
    history = [1.0, 1.1, 0.9, 1.0, 50.0]
    assert median(history) == 1.0
    assert mad(history) == pytest.approx(0.1)
    assert upper_limit(history, 6.0, 3.0, 0.0) == pytest.approx(3.0)  # the ratio, not the outlier, decides
    assert lower_limit([0.9, 0.92, 0.88, 0.9], 4.0, 0.25) == pytest.approx(0.65)


def test_bucket_series_closes_gaps_as_zero_and_refuses_closed_buckets() -> None:
    series = BucketSeries(60, 5)
    assert series.add(10, 2.0)
    assert series.add(10, 1.0)
    assert series.add(13, 4.0)
    assert series.column(0) == [3.0, 0.0, 0.0]
    assert not series.add(11, 1.0)
    closed = series.advance(100)
    assert [v[0] for _, v in closed] == [4.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert len(series.history) == 5


def test_reorder_buffer_releases_one_total_order_whatever_the_interleaving() -> None:
    rng = random.Random(4)
    sources = {s: sorted(rng.randrange(10_000) for _ in range(200)) for s in range(4)}
    expected = sorted((t, s, i) for s, times in sources.items() for i, t in enumerate(times))
    for seed in range(5):
        buffer = ReorderBuffer(lateness_ms=0)
        for s in sources:
            buffer.register(s)
        cursors = dict.fromkeys(sources, 0)
        out = []
        order = random.Random(seed)
        while any(cursors[s] < len(sources[s]) for s in sources):
            s = order.choice([s for s in sources if cursors[s] < len(sources[s])])
            i = cursors[s]
            buffer.push(s, sources[s][i], 0, f"{s}:{i:04d}", (sources[s][i], s, i))
            cursors[s] += 1
            if cursors[s] == len(sources[s]):
                buffer.set_idle(s, True)
            out += buffer.release()
        out += buffer.release(flush=True)
        assert sorted(out) == expected
        assert [t for t, _, _ in out] == sorted(t for t, _, _ in out)
        assert buffer.late == 0


def test_an_input_that_has_not_delivered_holds_the_watermark_until_it_is_idle() -> None:
    buffer = ReorderBuffer(lateness_ms=0)
    buffer.register("a")
    buffer.register("b")
    buffer.push("a", 100, 0, "x", "x")
    buffer.push("a", 200, 0, "y", "y")
    assert buffer.release() == []
    buffer.set_idle("b", True)
    assert buffer.release() == ["x"]  # strictly older than a's newest
    buffer.push("b", 50, 0, "late", "late")
    assert buffer.late == 1
    assert buffer.release(flush=True) == ["late", "y"]


def test_the_shipped_rules_file_loads_and_a_workflow_overrides_defaults(tmp_path: Path) -> None:
    shipped = load_rules(DEFAULT_ALERT_RULES)
    assert shipped.for_workflow("refund_ticket").runaway_step_limit == 50
    assert shipped.for_workflow("refund_ticket").tool_failure_count == 5
    path = tmp_path / "alerts.toml"
    path.write_text("[defaults]\ntool_failure_count = 7\n[workflows.export_report]\nrunaway_step_limit = 20\n")
    rules = load_rules(path, renotify_s=60)
    assert rules.for_workflow("export_report").runaway_step_limit == 20
    assert rules.for_workflow("export_report").tool_failure_count == 7
    assert rules.for_workflow("unknown").runaway_step_limit == 50
    assert rules.renotify_s == 60


@pytest.mark.parametrize(("text", "message"), [
    ("[defaults]\nrunaway_step_limt = 20\n", "unknown threshold 'runaway_step_limt'"),
    ("[defaults]\nrunaway_step_limit = 2.5\n", "must be an integer"),
    ("[workflows.x]\ncost_mad_k = \"high\"\n", "must be a number"),
    ("[defaults]\ntool_failure_window_s = 0\n", "must be positive"),
    ("[alerts]\n", "unknown section"),
    ("[defaults\n", "alerts.toml"),
])
def test_a_bad_rules_file_is_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_rules(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_rules(tmp_path / "missing.toml")


def test_a_lane_can_hold_records_back_below_what_it_still_waits_for() -> None:
    buffer = ReorderBuffer(lateness_ms=0)
    buffer.register("a")
    for t in (100, 200, 300):
        buffer.push("a", t, 0, str(t), t)
    buffer.set_idle("a", True)
    assert buffer.release(before=200) == [100]
    assert buffer.release() == [200, 300]
