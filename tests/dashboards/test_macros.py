"""Grafana's variable and macro substitution, as the ClickHouse plugin (v4) does it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from warden.core.errors import ConfigError
from warden.dashboards.macros import ALL, TimeRange, render, utc

WHEN = TimeRange(datetime(2026, 11, 2, 8, 0, tzinfo=UTC), datetime(2026, 11, 2, 14, 0, tzinfo=UTC))
OPTIONS = {"tenant": ["acme", "globex"], "workflow": ["refund_ticket", "o'hare"]}
FILTER = "$__conditionalAll(tenant_id IN (${tenant:singlequote}), $tenant)"


def test_time_filter_uses_unix_seconds_of_the_range() -> None:
    sql = render("WHERE $__timeFilter(occurred_at)", WHEN)
    assert sql == "WHERE occurred_at >= toDateTime(1793606400) AND occurred_at <= toDateTime(1793628000)"


def test_millisecond_and_date_filters_and_from_to() -> None:
    assert render("$__timeFilter_ms(t)", WHEN) == (
        "t >= fromUnixTimestamp64Milli(1793606400000) AND t <= fromUnixTimestamp64Milli(1793628000000)")
    assert render("$__dateFilter(d)", WHEN) == "d >= toDate('2026-11-02') AND d <= toDate('2026-11-02')"
    assert render("$__fromTime / $__toTime", WHEN) == "toDateTime(1793606400) / toDateTime(1793628000)"


def test_time_interval_is_the_range_over_the_data_points_rounded_up() -> None:
    assert WHEN.interval_s == 300  # 6 h / 120 points = 180 s -> 5 min
    assert render("$__timeInterval(t)", WHEN) == "toStartOfInterval(toDateTime(t), INTERVAL 300 second)"
    short = TimeRange(WHEN.start, WHEN.start + timedelta(minutes=10))
    assert short.interval_s == 5
    assert render("$__interval_s", short) == "5"


def test_all_turns_a_conditional_filter_into_true() -> None:
    assert render(FILTER, WHEN, {}, OPTIONS) == "1=1"
    assert render(FILTER, WHEN, {"tenant": [ALL]}, OPTIONS) == "1=1"
    assert render(FILTER, WHEN, {"tenant": None}, OPTIONS) == "1=1"


def test_a_selection_keeps_the_condition_with_quoted_values() -> None:
    assert render(FILTER, WHEN, {"tenant": ["acme"]}, OPTIONS) == "tenant_id IN ('acme')"
    assert render("w IN (${workflow:singlequote})", WHEN, {"workflow": ["o'hare", "b"]}) == "w IN ('o\\'hare','b')"


def test_all_without_a_conditional_expands_to_every_option_like_grafana() -> None:
    assert render("t IN (${tenant:singlequote}) AND $tenant", WHEN, {}, OPTIONS) == \
        "t IN ('acme','globex') AND acme,globex"


def test_nested_parentheses_inside_a_conditional() -> None:
    sql = "$__conditionalAll(run_id IN (SELECT run_id FROM e WHERE workflow IN (${workflow:singlequote})), $workflow)"
    assert render(sql, WHEN, {}, OPTIONS) == "1=1"
    assert render(sql, WHEN, {"workflow": ["refund_ticket"]}, OPTIONS) == \
        "run_id IN (SELECT run_id FROM e WHERE workflow IN ('refund_ticket'))"


def test_unknown_macros_and_bad_ranges_are_named() -> None:
    with pytest.raises(ConfigError, match=r"\$__timeGroup"):
        render("$__timeGroup(t, 1h)", WHEN)
    with pytest.raises(ConfigError, match="before it starts"):
        TimeRange(WHEN.end, WHEN.start)
    with pytest.raises(ConfigError, match="ISO-8601"):
        utc("yesterday")
    assert utc("2026-11-02T08:00:00Z") == WHEN.start
