"""Operators' rollout commands in the pure step: when they count as made (event time, and the operator's own
time beside it), and a manual promotion past approval_after_step waiting for a named approver."""

from __future__ import annotations

from datetime import timedelta

from tests.rollout.helpers import T0, WORKFLOW, command, decisions, deny, feed, plan, run, start_command, summary
from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.output import Output
from warden.core.records import (
    ApprovalDecision,
    ApprovalOutcome,
    Control,
    Decision,
    PolicyDecision,
    RolloutAction,
    RolloutStatus,
)
from warden.rollout.controller import ControllerState

ROLLOUT_ID = f"start-{WORKFLOW}"


def stage_of(state: ControllerState):  # type: ignore[no-untyped-def]
    return state.rollouts[WORKFLOW].stage


def quiet_rollout(**changes: object) -> ControllerState:
    """A rollout started at T0 (its command's time) on a stack whose last event was read at T0 - 1 h and
    where no event arrives after: the controller's clock stands at T0 - 1 h."""
    state = ControllerState()
    feed(state, run("before", "v3", T0 - timedelta(hours=1)))
    feed(state, [start_command(plan(start_at=None, **changes), at=T0)])
    return state


def test_commands_in_a_quiet_session_each_count_at_their_own_time() -> None:
    """Fails on the old code: the pause, resume, promote and rollback were all stamped T0 (the clock, held up
    by the step's start), so "since" never moved and the 25% step started at T0, before its promotion."""
    state = quiet_rollout()
    times = {action: T0 + timedelta(minutes=m) for action, m in
             ((RolloutAction.PAUSE, 3), (RolloutAction.RESUME, 7), (RolloutAction.PROMOTE, 12),
              (RolloutAction.ROLLBACK, 20))}
    made = []
    for action, at in times.items():
        outputs = feed(state, [command(action, ROLLOUT_ID, at=at)])
        made += decisions(outputs)
        if action == RolloutAction.PROMOTE:
            assert stage_of(state).step_started_at == at  # the new step starts when it was promoted
            stage_records = [o.record for o in outputs if o.topic == topics.CONTROL]
            assert isinstance(stage_records[-1], Control) and stage_records[-1].at == at  # the status' "since"
    assert [(d.decision.value, d.decided_at, d.commanded_at) for d in made] == [
        (action.value, at, at) for action, at in times.items()]
    assert made[-1].window_start == times[RolloutAction.PROMOTE]


def test_the_idle_time_before_a_manual_promotion_does_not_count_towards_the_new_steps_hold() -> None:
    """Fails on the old code: the 25% step started at the last event read (09:05), so when traffic came back an
    hour later its cut-offs from 09:15 on were judged at once, and max_hold (30 min) had passed: rollback."""
    state = ControllerState()
    feed(state, [start_command(plan(max_hold_minutes=30))])
    feed(state, run("r0", "v4", T0 + timedelta(minutes=5)))
    promoted_at = T0 + timedelta(hours=1)
    assert summary(feed(state, [command(RolloutAction.PROMOTE, ROLLOUT_ID, at=promoted_at)])) == [("promote", 5, 25)]
    back: list[AgentEvent] = sorted((e for i in range(12) for e in run(
        f"s{i}", "v4" if i % 2 else "v3", promoted_at + timedelta(minutes=1, seconds=20 * i))),
        key=lambda e: e.occurred_at)
    assert summary(feed(state, back)) == []  # the 25% step's first cut-off (10:10) not reached
    assert stage_of(state).status == RolloutStatus.RUNNING and stage_of(state).percent == 25


def test_a_command_read_after_the_clock_passed_its_time_counts_at_the_clock_and_keeps_its_own() -> None:
    """The history stays in order: a command given at 09:05 and read once events reached 09:30 (a judgment at
    09:20 made already) counts at 09:30; the operator's time is kept in commanded_at."""
    state = ControllerState()
    feed(state, [start_command(plan(min_runs=10_000))])
    held = decisions(feed(state, [e for i in range(4) for e in run(f"r{i}", "v4", T0 + timedelta(minutes=9 * i))]))
    given = T0 + timedelta(minutes=5)
    pause = decisions(feed(state, [command(RolloutAction.PAUSE, ROLLOUT_ID, at=given)]))[0]
    assert held and max(d.decided_at for d in held) <= pause.decided_at
    assert pause.decided_at == T0 + timedelta(minutes=27, seconds=5) and pause.commanded_at == given


def test_the_controllers_own_decisions_carry_no_commanded_at() -> None:
    state = ControllerState()
    feed(state, [start_command(plan(min_runs=10_000))])
    held = decisions(feed(state, [e for i in range(3) for e in run(f"r{i}", "v4", T0 + timedelta(minutes=6 * i))]))
    assert held and all(d.commanded_at is None and not d.manual for d in held)


def approval_request(outputs: list[Output]) -> PolicyDecision:
    requests = [o.record for o in outputs if o.topic == topics.APPROVAL_REQUESTS]
    assert len(requests) == 1, requests
    assert isinstance(requests[0], PolicyDecision) and requests[0].decision == Decision.REQUIRE_APPROVAL
    return requests[0]


def at_25() -> ControllerState:
    state = ControllerState()
    feed(state, [start_command(plan())])
    feed(state, [command(RolloutAction.PROMOTE, ROLLOUT_ID, actor="lee@acme", at=T0 + timedelta(minutes=1))])
    assert stage_of(state).percent == 25
    return state


def test_a_manual_promotion_past_the_approval_step_asks_a_named_approver_and_waits() -> None:
    """Fails on the old code: the operator's promote from 25% completed the rollout at 100% at once, and no
    approval was asked for (issue 11: promotion past the step waits for a named human's approval)."""
    state = at_25()
    outputs = feed(state, [command(RolloutAction.PROMOTE, ROLLOUT_ID, actor="lee@acme", at=T0 + timedelta(minutes=2))])
    assert summary(outputs) == [("hold", 25, 25)]
    asked = decisions(outputs)[0]
    request = approval_request(outputs)
    assert (asked.manual, asked.actor, asked.rationale, asked.approval_call_id) == (
        True, "lee@acme", "because", request.call_id)
    assert "asked by lee@acme" in request.reason and "promote from 25% to 100%" in request.reason
    assert "waits for approval" in asked.reason
    assert (stage_of(state).status, stage_of(state).percent) == (RolloutStatus.AWAITING_APPROVAL, 25)
    # A second promote while it waits asks nobody again; it says so.
    again = feed(state, [command(RolloutAction.PROMOTE, ROLLOUT_ID, actor="kim@acme", at=T0 + timedelta(minutes=3))])
    assert summary(again) == [("hold", 25, 25)] and "already waits for approval" in decisions(again)[0].reason
    assert not [o for o in again if o.topic == topics.APPROVAL_REQUESTS]
    approved_at = T0 + timedelta(minutes=4)
    approval = ApprovalDecision(approval_id="a1", call_id=request.call_id, run_id=request.run_id,
                                approver="dana@acme", decided_at=approved_at, decision=ApprovalOutcome.APPROVED,
                                rationale="release notes reviewed")
    outputs = feed(state, [approval])
    assert summary(outputs) == [("complete", 25, 100)]
    complete = decisions(outputs)[0]
    assert (complete.actor, complete.rationale, complete.commanded_at) == (
        "dana@acme", "release notes reviewed", approved_at)
    assert stage_of(state).status == RolloutStatus.COMPLETED


def test_a_rejected_manual_promotion_pauses_at_its_step() -> None:
    state = at_25()
    request = approval_request(feed(state, [command(RolloutAction.PROMOTE, ROLLOUT_ID, at=T0 + timedelta(minutes=2))]))
    rejected = ApprovalDecision(approval_id="a1", call_id=request.call_id, run_id=request.run_id,
                                approver="dana@acme", decided_at=T0 + timedelta(minutes=3),
                                decision=ApprovalOutcome.REJECTED, rationale="not this week")
    assert summary(feed(state, [rejected])) == [("pause", 25, 25)]
    assert (stage_of(state).status, stage_of(state).percent) == (RolloutStatus.PAUSED, 25)


def test_a_manual_promotion_below_the_approval_step_promotes_at_once() -> None:
    state = ControllerState()
    feed(state, [start_command(plan(approval_after_step=100))])
    feed(state, [command(RolloutAction.PROMOTE, ROLLOUT_ID, at=T0 + timedelta(minutes=1))])
    outputs = feed(state, [command(RolloutAction.PROMOTE, ROLLOUT_ID, at=T0 + timedelta(minutes=2))])
    assert summary(outputs) == [("complete", 25, 100)]
    assert not [o for o in outputs if o.topic == topics.APPROVAL_REQUESTS]


def test_a_stop_ship_by_a_candidate_run_started_before_a_promotion_and_read_after_it_rolls_back() -> None:
    """A step starts at its command's time, which can be ahead of the events read (they lag): a candidate run
    started before it, read after it, is not judged at the new step, but its stop-ship still rolls back."""
    state = ControllerState()
    feed(state, [start_command(plan())])
    promoted_at = T0 + timedelta(minutes=2)
    feed(state, [command(RolloutAction.PROMOTE, ROLLOUT_ID, at=promoted_at)])
    late = run("late", "v4", promoted_at - timedelta(seconds=3))[:1]
    assert summary(feed(state, [*late, deny("late", promoted_at + timedelta(seconds=1), stop_ship=True)])) == [
        ("rollback", 25, 0)]
