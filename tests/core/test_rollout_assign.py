"""Assignment: deterministic, sticky as the percentage grows, and within half a point of p."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from warden.core.records import RolloutStage, RolloutStatus
from warden.core.rollout_assign import assign, bucket
from warden.core.rollout_book import RolloutBook
from warden.rollout.controller import stage_record

AT = datetime(2026, 12, 1, tzinfo=UTC)
UNITS = [f"user-{i}" for i in range(100_000)]


def stage(percent: int, status: RolloutStatus = RolloutStatus.RUNNING, seq: int = 1, rollout_id: str = "ro1",
          step_index: int = 0) -> RolloutStage:
    return RolloutStage(rollout_id=rollout_id, workflow="refund_ticket", baseline="v3", candidate="v4",
                        steps=[5, 25, 100], step_index=step_index, percent=percent, status=status, plan="{}",
                        step_started_at=AT, seq=seq)


def test_the_bucket_is_the_same_in_every_process() -> None:
    assert bucket("refund_ticket", "user-1") == bucket("refund_ticket", "user-1")  # not Python's salted hash
    assert bucket("refund_ticket", "user-1") == 4718  # blake2b: fixed across versions and machines
    assert bucket("export_report", "user-1") != bucket("refund_ticket", "user-1")


@pytest.mark.parametrize("percent", [5, 25, 50, 100])
def test_over_100000_units_the_share_is_within_half_a_point(percent: int) -> None:
    at = stage(percent)
    share = sum(assign(at, "refund_ticket", u).candidate for u in UNITS) / len(UNITS) * 100
    assert abs(share - percent) <= 0.5, share


def test_a_unit_in_the_5_percent_stays_in_the_candidate_at_25() -> None:
    five, twenty_five = stage(5), stage(25, step_index=1)
    at_5 = {u for u in UNITS if assign(five, "refund_ticket", u).candidate}
    at_25 = {u for u in UNITS if assign(twenty_five, "refund_ticket", u).candidate}
    assert at_5 and at_5 <= at_25


def test_rolled_back_runs_the_baseline_completed_the_candidate_and_no_rollout_says_none() -> None:
    back, done = stage(0, RolloutStatus.ROLLED_BACK), stage(100, RolloutStatus.COMPLETED)
    assert {assign(back, "refund_ticket", u).release for u in UNITS[:2000]} == {"v3"}
    assert {assign(done, "refund_ticket", u).release for u in UNITS[:2000]} == {"v4"}
    assert assign(None, "refund_ticket", "user-1").release is None


def test_the_book_keeps_the_latest_stage_and_ignores_echoes() -> None:
    book = RolloutBook()
    book.apply(stage_record(stage(5, seq=1), AT, "x", ""))
    book.apply(stage_record(stage(25, seq=2), AT, "x", ""))
    book.apply(stage_record(stage(5, seq=1), AT, "x", "an echo of seq 1"))
    assert book.get("refund_ticket").percent == 25  # type: ignore[union-attr]
    book.apply(stage_record(stage(5, seq=1, rollout_id="ro2"), AT, "x", "a new rollout"))
    assert book.get("refund_ticket").rollout_id == "ro2"  # type: ignore[union-attr]
