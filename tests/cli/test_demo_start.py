"""Where a demo's story starts in event time: on a whole hour in the past, and after any earlier demo in the
ledger (a second demo on the first one's event times saw none of its runs and held its rollouts for ever)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warden.cli.demo import STORY_HOURS, story_start

NOW = datetime(2026, 12, 2, 4, 37, 12, tzinfo=UTC)


def test_a_fresh_ledger_starts_on_a_whole_hour_with_the_story_in_the_past() -> None:
    start = story_start(NOW, 20_000)
    assert start == datetime(2026, 12, 2, 4, tzinfo=UTC) - timedelta(hours=STORY_HOURS + 2)
    assert start + timedelta(hours=STORY_HOURS) < NOW


def test_after_an_earlier_demo_the_story_starts_past_its_last_event() -> None:
    first = story_start(NOW, 20_000)
    reached = first + timedelta(hours=STORY_HOURS, minutes=12)
    second = story_start(NOW + timedelta(minutes=5), 20_000, after=reached)
    assert second > reached and second.minute == 0 and second - reached < timedelta(hours=2)


def test_an_earlier_demo_long_ago_does_not_move_the_start() -> None:
    long_ago = NOW - timedelta(days=3)
    assert story_start(NOW, 20_000, after=long_ago) == story_start(NOW, 20_000)
