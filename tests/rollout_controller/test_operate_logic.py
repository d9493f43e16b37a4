"""warden.rollout_controller.operate's pure logic, on records the controller's step makes: the gate a delivery
tool reads (Argo Rollouts' web metric, Flagger's confirm-promotion), and when a command can no longer apply."""

from __future__ import annotations

from tests.rollout.helpers import T0, WORKFLOW, decisions, feed, plan, start_command, traffic
from warden.core.records import RolloutAction, RolloutCommand, RolloutStatus
from warden.rollout.controller import ControllerState
from warden.rollout.plan import Gates
from warden.rollout_controller.operate import _overtaken, gate_verdict


def test_a_hold_for_too_few_runs_is_no_pass_even_when_its_figures_pass() -> None:
    """12 of 200 runs, all of one cost: the cost interval has width 0 and passes, and the gate said pass (a 200
    to Flagger's confirm-promotion) while the controller held for min_runs."""
    state = ControllerState()
    feed(state, [start_command(plan(min_runs=200, hold_minutes=1, gates=Gates(cost_per_task_usd_max=0.10)))])
    last = [d for d in decisions(feed(state, traffic(T0, 30, every_s=10))) if d.metrics][-1]
    assert last.decision.value == "hold" and "12 of 200 completed candidate runs" in last.reason
    assert all(f.verdict == "pass" for f in last.metrics.values() if f.bound)
    assert gate_verdict(state.rollouts[WORKFLOW].stage, last) == "wait"


def test_a_judgment_with_min_runs_that_passes_every_gate_is_a_pass() -> None:
    state = ControllerState()
    feed(state, [start_command(plan(min_runs=10, hold_minutes=1, approval_after_step=5,
                                    gates=Gates(cost_per_task_usd_max=0.10)))])
    last = [d for d in decisions(feed(state, traffic(T0, 30, every_s=10))) if d.metrics][-1]
    assert last.decision.value == "hold" and "promotion waits for approval" in last.reason
    assert gate_verdict(state.rollouts[WORKFLOW].stage, last) == "pass"


def test_a_start_overtaken_by_another_start_can_no_longer_apply_and_a_start_of_its_own_can() -> None:
    """Two operators start at once: the controller applies the first it reads and drops the other, whose wait
    ended in a 504 asking whether the controller ran."""
    state = ControllerState()
    feed(state, [start_command(plan())])
    theirs = state.rollouts[WORKFLOW].stage
    mine = RolloutCommand(command_id="mine", action=RolloutAction.START, workflow=WORKFLOW, plan=plan().to_json(),
                          rationale="x")
    assert "another rollout of refund_ticket started first (v3 -> v4 at 5%, running)" in str(
        _overtaken(mine, None, theirs))
    assert _overtaken(mine, theirs.model_copy(update={"status": RolloutStatus.ROLLED_BACK}),
                      theirs.model_copy(update={"status": RolloutStatus.ROLLED_BACK})) is None  # may still apply
    promote = RolloutCommand(command_id="p", action=RolloutAction.PROMOTE, workflow=WORKFLOW,
                             rollout_id=theirs.rollout_id, rationale="x")
    assert _overtaken(promote, theirs, theirs) is None
    back = theirs.model_copy(update={"status": RolloutStatus.ROLLED_BACK, "percent": 0})
    assert _overtaken(promote, theirs, back) == "the rollout became rolled_back at 0% before this command was read"
