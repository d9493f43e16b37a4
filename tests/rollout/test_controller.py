"""The controller's decisions on hand-made runs: every figure below is worked out by hand in the comments."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from tests.rollout.helpers import (
    T0,
    WORKFLOW,
    as_json,
    command,
    config,
    decisions,
    deny,
    feed,
    plan,
    run,
    start_command,
    summary,
    traffic,
    with_tool_calls,
)
from warden.core import topics
from warden.core.records import (
    Alert,
    AlertKind,
    ApprovalDecision,
    ApprovalOutcome,
    Control,
    Decision,
    PolicyDecision,
    RolloutAction,
    RolloutDecision,
    RolloutDecisionKind,
    RolloutStatus,
    Severity,
)
from warden.rollout.controller import ROLLOUT_TENANT, ControllerState, Step, idle, stage_record, step
from warden.rollout.plan import Gates

ROLLOUT_ID = f"start-{WORKFLOW}"


def started(**changes: object) -> ControllerState:
    state = ControllerState()
    feed(state, [start_command(plan(**changes))])
    return state


def stage_of(state: ControllerState):  # type: ignore[no-untyped-def]
    return state.rollouts[WORKFLOW].stage


def test_start_writes_the_stage_at_the_first_step_and_a_start_decision() -> None:
    state = ControllerState()
    outputs = feed(state, [start_command(plan())])
    stage = [o for o in outputs if o.topic == topics.CONTROL]
    assert len(stage) == 1 and stage[0].key == f"rollout:{WORKFLOW}"
    record = stage[0].record
    assert isinstance(record, Control) and record.rollout is not None
    assert (record.rollout.percent, record.rollout.status, record.rollout.seq) == (5, RolloutStatus.RUNNING, 1)
    assert record.scope == "tool:rollout:refund_ticket" and not record.active
    assert summary(outputs) == [("start", 0, 5)]
    assert decisions(outputs)[0].actor == "owner@acme"


def test_a_candidate_40_percent_dearer_than_the_gate_is_rolled_back_at_5_with_a_page_naming_the_cost_gate() -> None:
    # 60 runs in the first 10 minutes, every other one the candidate's: 30 candidate runs completed
    # before the cut-off at 09:10. Per-run cost alternates 0.12 / 0.16: mean 0.14, s = 0.02 * sqrt(30/29)
    # = 0.020342, se = s / sqrt(30) = 0.003714; one gate, z = 1.96: 0.14 +/- 0.007279 = [0.1327, 0.1473] > 0.10.
    state = started()
    outputs = feed(state, traffic(T0, 80, candidate_cost=0.14, vary=0.02))
    assert summary(outputs) == [("rollback", 5, 0)]
    rollback = decisions(outputs)[0]
    figure = rollback.metrics["cost_per_task_usd"]
    assert figure.runs == 30 and abs(figure.value - 0.14) < 1e-12  # type: ignore[operator]
    assert abs(figure.low - 0.132721) < 1e-5 and abs(figure.high - 0.147279) < 1e-5  # type: ignore[operator]
    assert (figure.verdict, figure.target, figure.bound) == ("fail", 0.10, "max")
    assert rollback.failed_gates == ["cost_per_task_usd"]
    assert rollback.decided_at == T0 + timedelta(minutes=10)  # the cut-off, event time
    assert rollback.candidate_completed == 30 and rollback.baseline_completed == 30
    pages = [o.record for o in outputs if isinstance(o.record, Alert)]
    assert len(pages) == 1 and pages[0].severity == Severity.PAGE and pages[0].kind == AlertKind.COST_SPIKE
    assert "cost_per_task_usd 0.14 [0.1327, 0.1473] over 30 runs, max 0.1" in pages[0].summary
    assert pages[0].labels["gate"] == "cost_per_task_usd" and pages[0].tenant_id == ROLLOUT_TENANT
    assert stage_of(state).percent == 0 and stage_of(state).status == RolloutStatus.ROLLED_BACK


def test_nothing_is_judged_before_hold_minutes_of_event_time_nor_before_the_settle_time_after_it() -> None:
    state = started()
    # runs up to 09:10:00 (exclusive) + settle 10 s: the last event at 09:10:09 is not past 09:10:10 yet.
    events = [e for e in traffic(T0, 80, candidate_cost=0.14) if e.occurred_at < T0 + timedelta(minutes=10, seconds=10)]
    assert summary(feed(state, events)) == []
    more = run("late", "v3", T0 + timedelta(minutes=10, seconds=10))[:1]
    assert summary(feed(state, more)) == [("rollback", 5, 0)]


def test_fewer_completed_candidate_runs_than_min_runs_is_a_hold_that_says_how_many() -> None:
    state = started(min_runs=40)
    outputs = feed(state, traffic(T0, 70, candidate_cost=0.14))
    # 30 candidate runs by 09:10; judged again at 09:11 (33 runs) once the clock passes 09:11:10: no, it
    # is at 09:11:30 at most (70 runs, one every 10 s, the last starts at 09:11:30 and ends at 09:11:35).
    assert summary(outputs) == [("hold", 5, 5), ("hold", 5, 5)]
    first, second = decisions(outputs)
    assert first.reason == "30 of 40 completed candidate runs needed at 5%"
    assert second.reason == "33 of 40 completed candidate runs needed at 5%"
    assert second.decided_at == T0 + timedelta(minutes=11)


def test_an_interval_straddling_the_gate_holds_and_names_the_gate() -> None:
    # cost alternates 0.05 / 0.15: mean 0.10, right on the gate: the interval holds 0.10 on both sides.
    state = started()
    outputs = feed(state, traffic(T0, 64, candidate_cost=0.10, vary=0.05))
    assert summary(outputs) == [("hold", 5, 5)]
    hold = decisions(outputs)[0]
    assert hold.reason.startswith("inconclusive at 5%: cost_per_task_usd 0.1 [")
    assert hold.metrics["cost_per_task_usd"].verdict == "inconclusive"


def test_promote_to_25_then_a_named_humans_approval_before_100() -> None:
    state = started()
    outputs = feed(state, traffic(T0, 122, candidate_cost=0.05, vary=0.01))  # the last run ends 09:20:15
    # 09:10 gates pass at 5 -> 25; at 09:20 (step 25, approval_after_step 25) gates pass: wait for approval.
    assert summary(outputs) == [("promote", 5, 25), ("hold", 25, 25)]
    promote, hold = decisions(outputs)
    assert promote.decided_at == T0 + timedelta(minutes=10) and promote.window_start == T0
    assert hold.window_start == T0 + timedelta(minutes=10)
    requests = [o for o in outputs if o.topic == topics.APPROVAL_REQUESTS]
    assert len(requests) == 1
    request = requests[0].record
    assert isinstance(request, PolicyDecision) and request.decision == Decision.REQUIRE_APPROVAL
    assert "promote from 25% to 100%" in request.reason and stage_of(state).status == RolloutStatus.AWAITING_APPROVAL
    assert hold.approval_call_id == request.call_id and "waits for approval" in hold.reason
    approval = ApprovalDecision(approval_id="a1", call_id=request.call_id, run_id=request.run_id,
                                approver="dana@acme", decided_at=T0 + timedelta(minutes=21),
                                decision=ApprovalOutcome.APPROVED, rationale="metrics look right")
    outputs = feed(state, [approval])
    assert summary(outputs) == [("complete", 25, 100)]
    complete = decisions(outputs)[0]
    assert (complete.actor, complete.rationale, complete.manual) == ("dana@acme", "metrics look right", True)
    assert stage_of(state).status == RolloutStatus.COMPLETED and stage_of(state).percent == 100


def test_a_rejected_promotion_pauses_and_an_expired_one_is_asked_again() -> None:
    state = started()
    outputs = feed(state, traffic(T0, 130, candidate_cost=0.05, vary=0.01))
    request = next(o.record for o in outputs if o.topic == topics.APPROVAL_REQUESTS)
    assert isinstance(request, PolicyDecision)
    expired = ApprovalDecision(approval_id="a1", call_id=request.call_id, run_id=request.run_id,
                               approver="warden:timeout", decided_at=T0 + timedelta(minutes=21),
                               decision=ApprovalOutcome.EXPIRED, rationale="no decision")
    feed(state, [expired])
    assert stage_of(state).status == RolloutStatus.RUNNING and stage_of(state).approval_call_id is None
    outputs = feed(state, traffic(T0 + timedelta(minutes=21, seconds=40), 10, prefix="s"))
    again = [o.record for o in outputs if o.topic == topics.APPROVAL_REQUESTS]
    assert len(again) == 1 and again[0].call_id != request.call_id  # type: ignore[attr-defined]
    rejected = ApprovalDecision(approval_id="a2", call_id=again[0].call_id, run_id=request.run_id,  # type: ignore[attr-defined]
                                approver="dana@acme", decided_at=T0 + timedelta(minutes=23),
                                decision=ApprovalOutcome.REJECTED, rationale="wait for Monday")
    assert summary(feed(state, [rejected])) == [("pause", 25, 25)]
    assert stage_of(state).status == RolloutStatus.PAUSED


def test_a_stop_ship_by_a_candidate_run_rolls_back_at_once_and_pages_and_a_baseline_one_does_not() -> None:
    state = started()
    feed(state, run("c1", "v4", T0 + timedelta(seconds=1)) + run("b1", "v3", T0 + timedelta(seconds=2)))
    assert summary(feed(state, [deny("b1", T0 + timedelta(seconds=3), stop_ship=True)])) == []
    outputs = feed(state, [deny("c1", T0 + timedelta(seconds=4), stop_ship=True, tenant="globex")])
    assert summary(outputs) == [("rollback", 5, 0)]
    assert decisions(outputs)[0].decided_at == T0 + timedelta(seconds=4)
    assert "stop-ship by candidate run c1 (tenant globex)" in decisions(outputs)[0].reason
    page = next(o.record for o in outputs if isinstance(o.record, Alert))
    assert page.kind == AlertKind.UNAUTHORIZED_ACTION and page.tenant_id == "globex" and page.run_id == "c1"
    assert "the baseline keeps running" in page.summary


def test_a_stop_ship_read_before_its_runs_start_still_rolls_back_when_the_start_arrives() -> None:
    state = started()
    feed(state, [deny("c9", T0 + timedelta(seconds=4), stop_ship=True)])
    assert stage_of(state).status == RolloutStatus.RUNNING
    assert summary(feed(state, run("c9", "v4", T0 + timedelta(seconds=1))[:1])) == [("rollback", 5, 0)]


def test_a_stop_ship_in_a_candidate_run_begun_at_the_step_before_still_rolls_back() -> None:
    """The policy-evaluator sets no kill switch for a candidate run of a live rollout, so the controller is the
    only one to act on its stop-ship: a run begun at 5% that trips one after the promotion to 25% used to be
    let go with the 5% step's runs, and its stop-ship changed nothing (no rollback, no switch)."""
    state = started(hold_minutes=0, min_runs=1)
    long = run("c-long", "v4", T0 + timedelta(seconds=1), duration_s=3600)
    feed(state, long[:2])  # started and an LLM call at 5%; it completes an hour later
    outputs = feed(state, traffic(T0 + timedelta(seconds=5), 20, every_s=6, prefix="s"))
    assert ("promote", 5, 25) in summary(outputs)
    step_start = stage_of(state).step_started_at
    back = feed(state, [deny("c-long", step_start + timedelta(minutes=1), stop_ship=True)])
    assert summary(back) == [("rollback", 25, 0)]
    assert "stop-ship by candidate run c-long" in decisions(back)[0].reason


def test_an_in_flight_run_of_the_step_before_counts_in_no_gate_of_the_next() -> None:
    state = started(hold_minutes=0, min_runs=1)
    feed(state, run("c-long", "v4", T0 + timedelta(seconds=1), cost=5.0, duration_s=600)[:2])
    feed(state, traffic(T0 + timedelta(seconds=5), 20, every_s=6, prefix="s"))
    step_start = stage_of(state).step_started_at
    assert stage_of(state).percent == 25
    judged = feed(state, run("c-long", "v4", T0 + timedelta(seconds=1), cost=5.0, duration_s=600)[2:]
                  + traffic(step_start + timedelta(seconds=1), 4, every_s=6, prefix="t"))
    figures = [d.metrics for d in decisions(judged) if d.metrics]
    assert figures and all(f["cost_per_task_usd"].value == 0.05 for f in figures)  # the $5 run is not in it


def test_success_drop_against_the_baseline_running_at_the_same_time() -> None:
    # 30 candidate runs, 6 failed: 24/30 = 0.8; 30 baseline runs, all succeeded: 1.0. Drop 0.2.
    # Newcombe at z = 1.96: Wilson(24, 30) = [0.6269, 0.9050], Wilson(30, 30) = [0.8865, 1];
    # low = 0.2 - sqrt((1 - 0.8865)^2 + (0.9050 - 0.8)^2) = 0.2 - 0.1546 = 0.0454 > 0.02: fail.
    state = started(gates=Gates(success_drop_vs_baseline_max=0.02))
    events = traffic(T0, 64)
    failing = {f"r{i}" for i in range(0, 60, 10)}  # 6 of the candidate's runs
    events = [e.model_copy(update={"body": e.body.model_copy(update={"status": "failed"})})
              if e.run_id in failing and e.event_type == "run_completed" else e for e in events]
    outputs = feed(state, events)
    assert summary(outputs) == [("rollback", 5, 0)]
    drop = decisions(outputs)[0].metrics["success_drop_vs_baseline"]
    assert abs(drop.value - 0.2) < 1e-12 and abs(drop.low - 0.0454) < 1e-3  # type: ignore[operator]
    assert decisions(outputs)[0].baseline_metrics["task_success_rate"].value == 1.0


def test_cost_increase_against_the_baseline() -> None:
    # candidate 0.06 +/- 0.01, baseline 0.05 +/- 0.01, 30 runs each: ratio 1.2. se_c = se_b = 0.01 * sqrt(30/29)
    # / sqrt(30) = 0.001857; spread = 1.96 * sqrt((0.001857/0.06)^2 + (0.001857/0.05)^2) = 0.09475:
    # increase in [1.2 e^-0.09475 - 1, 1.2 e^0.09475 - 1] = [0.0915, 0.3193], against a max of 0.50: pass.
    state = started(gates=Gates(cost_increase_vs_baseline_max=0.50))
    outputs = feed(state, traffic(T0, 64, candidate_cost=0.06, baseline_cost=0.05, vary=0.01))
    assert summary(outputs) == [("promote", 5, 25)]
    increase = decisions(outputs)[0].metrics["cost_increase_vs_baseline"]
    assert abs(increase.value - 0.2) < 1e-9  # type: ignore[operator]
    assert abs(increase.low - 0.0915) < 1e-3 and abs(increase.high - 0.3193) < 1e-3  # type: ignore[operator]


def test_latency_p95_uses_the_order_statistic_interval() -> None:
    # 30 candidate runs of 5 s: p95 5 s, n*q = 28.5, z*sqrt(n q (1-q)) = 1.96 * 1.1937 = 2.34: ranks 26 and 31;
    # rank 31 > 30 runs, so the upper bound is unbounded: a max gate cannot pass on 30 runs (hold).
    state = started(gates=Gates(latency_p95_s_max=20))
    outputs = feed(state, traffic(T0, 64))
    hold = decisions(outputs)[0]
    assert hold.decision == RolloutDecisionKind.HOLD
    figure = hold.metrics["latency_p95_s"]
    assert (figure.value, figure.low, figure.high, figure.runs) == (5.0, 5.0, None, 30)


def test_violation_and_high_severity_rates_count_runs_with_a_deny_or_a_page_before_the_cutoff() -> None:
    # 30 candidate runs, 9 with a deny: 0.3. Two gates: z = inv_normal(1 - 0.05 / 4) = 2.2414;
    # Wilson(9, 30) = (0.3 + z^2/60 -/+ z sqrt(0.21/30 + z^2/3600)) / (1 + z^2/30) = [0.1528, 0.5046] > 0.02: fail.
    state = started(gates=Gates(violation_rate_max=0.02, high_severity_rate_max=0.5))
    events = traffic(T0, 64)
    denials = [deny(f"r{i}", T0 + timedelta(seconds=i * 10 + 2)) for i in range(0, 54, 6)]
    page = Alert(alert_id="p1", kind=AlertKind.RUNAWAY_STEPS, severity=Severity.PAGE, tenant_id="acme",
                 workflow=WORKFLOW, run_id="r2", summary="50 steps", first_seen=T0 + timedelta(seconds=23),
                 last_seen=T0 + timedelta(seconds=23), count=1)
    messages = sorted([*events, *denials, page], key=lambda m: getattr(m, "occurred_at", None)
                      or getattr(m, "decided_at", None) or m.first_seen)  # type: ignore[attr-defined]
    outputs = feed(state, messages)
    rollback = decisions(outputs)[0]
    assert rollback.failed_gates == ["violation_rate"]
    violation = rollback.metrics["violation_rate"]
    assert violation.value == 0.3 and abs(violation.low - 0.1528) < 1e-4  # type: ignore[operator]
    assert rollback.metrics["high_severity_rate"].value == 1 / 30


def test_only_runs_started_during_the_step_count_for_it() -> None:
    state = started(start_at=T0 + timedelta(minutes=5))
    # runs from 09:00; the step starts 09:05: 30 candidate runs between 09:05 and 09:15.
    outputs = feed(state, traffic(T0, 100, candidate_cost=0.14))
    rollback = decisions(outputs)[0]
    assert rollback.decided_at == T0 + timedelta(minutes=15) and rollback.candidate_completed == 30


def test_manual_pause_resume_promote_and_rollback_are_recorded_with_who() -> None:
    state = started()
    at = T0 + timedelta(minutes=1)
    assert summary(feed(state, [command(RolloutAction.PAUSE, ROLLOUT_ID, at=at)])) == [("pause", 5, 5)]
    assert summary(feed(state, traffic(T0, 80, candidate_cost=0.14))) == []  # paused: not judged
    assert summary(feed(state, [command(RolloutAction.RESUME, ROLLOUT_ID, at=at)])) == [("resume", 5, 5)]
    outputs = feed(state, [command(RolloutAction.PROMOTE, ROLLOUT_ID, actor="lee@acme", at=at)])
    assert summary(outputs) == [("promote", 5, 25)]
    assert decisions(outputs)[0].actor == "lee@acme" and decisions(outputs)[0].manual
    outputs = feed(state, [command(RolloutAction.ROLLBACK, ROLLOUT_ID, at=at)])
    assert summary(outputs) == [("rollback", 25, 0)]
    assert not [o for o in outputs if isinstance(o.record, Alert)]  # an operator's rollback does not page
    assert summary(feed(state, [command(RolloutAction.PROMOTE, ROLLOUT_ID, at=at)])) == []  # over


def test_a_command_on_an_idle_stack_is_not_stamped_before_the_rollout_started() -> None:
    """The clock stays at the last event read (an hour before this start): a pause, resume and promote were
    stamped then, earlier than the start they act on, in rollout_decisions and `warden rollout status`."""
    state = ControllerState()
    feed(state, run("before-1", "v3", T0 - timedelta(hours=1)))
    started_at = T0 + timedelta(minutes=5)
    feed(state, [start_command(plan(start_at=None), at=started_at)])
    later = started_at + timedelta(minutes=3)
    made = [d for action in (RolloutAction.PAUSE, RolloutAction.RESUME, RolloutAction.PROMOTE)
            for d in decisions(feed(state, [command(action, "start-refund_ticket", at=later)]))]
    assert [d.decision.value for d in made] == ["pause", "resume", "promote"]
    assert all(d.decided_at >= started_at for d in made), [d.decided_at for d in made]


def test_a_command_is_applied_once_and_one_for_another_rollout_is_ignored() -> None:
    state = started()
    pause = command(RolloutAction.PAUSE, ROLLOUT_ID, command_id="p1")
    assert summary(feed(state, [pause, pause])) == [("pause", 5, 5)]
    assert summary(feed(state, [command(RolloutAction.RESUME, "another-rollout")])) == []
    assert summary(feed(state, [start_command(plan(candidate="v5"))])) == []  # one live rollout per workflow


def test_a_stage_record_from_before_a_restart_is_adopted_and_an_echo_is_not() -> None:
    state = started()
    outputs = feed(state, traffic(T0, 64, candidate_cost=0.05, vary=0.01))
    promoted = [o.record for o in outputs if o.topic == topics.CONTROL]
    assert isinstance(promoted[-1], Control) and promoted[-1].rollout is not None
    fresh = ControllerState()
    feed(fresh, [start_command(plan()), *promoted])
    assert stage_of(fresh) == stage_of(state)
    before = stage_of(fresh)
    feed(fresh, [stage_record(before.model_copy(update={"percent": 77}), T0, "x", "an echo")])
    assert stage_of(fresh).percent == 25


def test_decisions_do_not_depend_on_how_partitions_interleave() -> None:
    """Six partitions read in any interleaving give the decisions of the file order (the clock waits)."""
    events = traffic(T0, 200, candidate_cost=0.05, vary=0.01)
    expected = as_json(decisions(feed(started(), events)))
    assert [d.split('"decision": ')[1][:10] for d in expected][:2] == ['"promote",', '"hold", "d']
    partitions: dict[int, list] = {p: [] for p in range(6)}
    for e in events:
        partitions[hash(e.run_id) % 6].append(e)
    rng = random.Random(7)
    state = started()
    for p in partitions:
        state.clock.register(f"p{p}")
    outputs = []
    cursors = dict.fromkeys(partitions, 0)
    while any(cursors[p] < len(partitions[p]) for p in partitions):
        p = rng.choice([q for q in partitions if cursors[q] < len(partitions[q])])
        for _ in range(rng.randint(1, 40)):
            if cursors[p] < len(partitions[p]):
                state, out = step(state, config(), partitions[p][cursors[p]], f"p{p}")
                outputs += out
                cursors[p] += 1
    for p in partitions:
        state, out = idle(state, config(), f"p{p}")
        outputs += out
    assert as_json(decisions(outputs)) == expected


def test_a_restored_snapshot_decides_as_the_state_it_was_taken_from() -> None:
    from warden.rollout.snapshot import dump, restore

    events = traffic(T0, 200, candidate_cost=0.05, vary=0.01)
    whole = started()
    expected = as_json(decisions(feed(whole, events)))
    half = started()
    first = feed(half, events[:250])
    resumed = restore(dump(half))
    rest = feed(resumed, events[250:])
    assert as_json(decisions(first + rest)) == expected
    assert dump(resumed) == dump(whole)


def test_passing_over_tool_calls_by_their_time_alone_decides_as_full_steps_do() -> None:
    """ADR 0019: what the live shell does with events outside READS (undecoded, by their headers) and what
    `warden replay` does (`feed`) give the same decisions, pages and stages as stepping every event."""
    from warden.core.partitioning import partition_for
    from warden.rollout.controller import READS
    from warden.rollout.controller import feed as passing

    events = with_tool_calls(traffic(T0, 60) + traffic(T0 + timedelta(minutes=10), 60, candidate_cost=0.10,
                                                       prefix="s"))
    assert {e.event_type.value for e in events} - READS  # some are passed over
    outputs = {}
    for name, through in (("step", step), ("feed", passing)):
        state = ControllerState()
        _, made = step(state, config(), start_command(plan(gates=Gates(cost_increase_vs_baseline_max=0.2))))
        for e in sorted(events, key=lambda e: e.occurred_at):
            made += through(state, config(), e, f"p{partition_for(e.run_id, 6)}")[1]
        outputs[name] = made
    assert [d.decision.value for d in decisions(outputs["step"])][-1] == "rollback"
    assert outputs["feed"] == outputs["step"]


def test_a_step_begun_long_before_its_first_events_is_judged_once_not_at_every_missed_cutoff() -> None:
    """A start_at 7 days in the past made the first event judge 10,070 cut-offs (1.2 CPU s, 10,070 identical
    holds); the judgments that repeat the last hold with nothing changed are not made."""
    state = started(start_at=T0 - timedelta(days=7), min_runs=200)
    outputs = feed(state, traffic(T0, 60))
    holds = [d for d in decisions(outputs) if d.decision == RolloutDecisionKind.HOLD]
    assert 1 <= len(holds) <= 32  # the first missed cut-off, then one per cut-off a completion changed
    assert holds[0].decided_at == T0 - timedelta(days=7) + timedelta(minutes=10)
    assert all(d.decided_at > T0 for d in holds[1:])


def without_repeated_holds(decisions: list[RolloutDecision]) -> list[RolloutDecision]:
    """The decisions of a controller that judged every cut-off, less each hold that repeats the previous hold in
    everything but its time: what the controller that skips unchanged cut-offs must have made."""
    def essence(d: RolloutDecision) -> tuple[Any, ...]:
        return d.decision, d.step, d.next_step, d.status, d.reason, as_json([*d.metrics.values()])

    kept, last = [], None
    for d in decisions:
        if d.decision == RolloutDecisionKind.HOLD and last is not None and essence(d) == essence(last):
            continue
        kept.append(d)
        last = d if d.decision == RolloutDecisionKind.HOLD else None
    return kept


@pytest.mark.parametrize("max_hold", [40, None], ids=["timeout", "promotion"])  # 5 -> 25, then approval
def test_collapsing_unchanged_judgments_drops_only_repeats_and_keeps_every_outcome(monkeypatch: Any,
                                                                                   max_hold: float | None) -> None:
    """Against the controller that judged every cut-off: the same decisions, minus holds that repeat the
    previous hold of their step in everything but the time, and the same promotions and rollbacks."""
    # bursts of runs 3 minutes long with 7 quiet minutes between them: cut-offs every 30 s in the quiet repeat
    events = [e for b in range(8) for e in traffic(T0 + timedelta(minutes=10 * b), 36, every_s=5,
                                                    candidate_cost=0.06, vary=0.01, prefix=f"b{b}-")]
    denials = [deny(f"b{b}-{i}", T0 + timedelta(minutes=10 * b, seconds=i * 5 + 3))
               for b in range(8) for i in range(0, 36, 17)]
    timed: list[tuple[datetime, BaseModel]] = [(e.occurred_at, e) for e in events]
    timed += [(d.decided_at, d) for d in denials]
    messages = [m for _, m in sorted(timed, key=lambda pair: pair[0])]

    def run_all() -> list[RolloutDecision]:
        state = started(min_runs=30, gates=Gates(cost_per_task_usd_max=0.10, violation_rate_max=0.2),
                        max_hold_minutes=max_hold, judge_every_minutes=0.5)
        return decisions(feed(state, messages))

    collapsed = run_all()
    monkeypatch.setattr(Step, "unchanged_until", lambda self, rollout, due: None)
    every = run_all()
    assert len(collapsed) < len(every)

    assert as_json(collapsed) == as_json(without_repeated_holds(every))
    assert [d.decision for d in collapsed if d.decision != RolloutDecisionKind.HOLD] == \
        [d.decision for d in every if d.decision != RolloutDecisionKind.HOLD]


def test_a_denial_read_after_cutoffs_past_it_were_held_is_judged_at_the_next_cutoff(monkeypatch: Any) -> None:
    """A fact older than the step's last hold (a decision read later than the settle time) changes the next
    judgment, as it did when every cut-off was judged: only the holds that repeat one are left out."""
    runs = with_tool_calls(traffic(T0, 40, every_s=5))  # 200 s of runs, then ten minutes of tool calls alone
    tail_start = max(e.occurred_at for e in traffic(T0, 40, every_s=5))
    late = [deny(f"r{i}", T0 + timedelta(seconds=i * 5 + 3)) for i in (0, 2, 4)]  # candidate runs, long done
    at = next(n for n, e in enumerate(runs) if e.occurred_at > tail_start + timedelta(minutes=5))
    messages: list[BaseModel] = [*runs[:at], *late, *runs[at:]]

    def run_all() -> list[RolloutDecision]:
        state = started(min_runs=10, gates=Gates(violation_rate_max=0.05), judge_every_minutes=0.5,
                        hold_minutes=1)
        return decisions(feed(state, messages))

    collapsed = run_all()
    monkeypatch.setattr(Step, "unchanged_until", lambda self, rollout, due: None)
    every = run_all()
    violations = {d.metrics["violation_rate"].value for d in every if "violation_rate" in d.metrics}
    assert 0.0 in violations and max(v for v in violations if v is not None) > 0  # the late denials counted

    assert as_json(collapsed) == as_json(without_repeated_holds(every))
