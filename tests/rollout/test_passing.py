"""What the controller passes over: `wants` says which events can change more than its clock, and
`passed_many` on consecutive passed-over events makes what `passed` one by one makes (ADR 0020)."""

from __future__ import annotations

from datetime import timedelta

from tests.rollout.helpers import T0, config, plan, start_command, traffic, with_tool_calls
from warden.core.events import AgentEvent
from warden.core.headers import millis
from warden.core.records import RolloutDecision
from warden.rollout import controller, snapshot
from warden.rollout.gates import Gates


def stream() -> list[AgentEvent]:
    runs = traffic(T0, 60, vary=0.01) + traffic(T0 + timedelta(minutes=12), 60, candidate_cost=0.10, prefix="s")
    others = [e.model_copy(update={"workflow": "triage_ticket", "run_id": f"o-{e.run_id}"})
              for e in traffic(T0, 20, prefix="o")]
    return with_tool_calls(sorted(runs + others, key=lambda e: e.occurred_at))


def started() -> controller.ControllerState:
    state = controller.ControllerState()
    controller.step(state, config(), start_command(plan(gates=Gates(cost_increase_vs_baseline_max=0.20))))
    return state


def test_passed_many_makes_what_passed_one_by_one_makes() -> None:
    events, sources = stream(), [f"p{i % 3}" for i in range(6)]
    one, many = started(), started()
    made_one: list[object] = []
    made_many: list[object] = []
    pending: list[tuple[str, int]] = []
    for i, e in enumerate(events):
        where = sources[i % len(sources)]
        if controller.wants(one, e.event_type.value, e.workflow, e.run_id):
            made_many += [o.record for o in controller.passed_many(many, config(), pending)[1]]
            pending = []
            made_many += [o.record for o in controller.step(many, config(), e, where)[1]]
            made_one += [o.record for o in controller.step(one, config(), e, where)[1]]
        else:
            pending.append((where, millis(e.occurred_at)))
            made_one += [o.record for o in controller.passed(one, config(), where, e.occurred_at)[1]]
    made_many += [o.record for o in controller.passed_many(many, config(), pending)[1]]
    assert made_one == made_many
    assert "rollback" in [r.decision.value for r in made_one if isinstance(r, RolloutDecision)]
    assert snapshot.dump(one) == snapshot.dump(many)


def test_what_it_passes_over_changes_nothing_but_the_clock() -> None:
    """`feed` (wants, then passed or step) decides exactly as `step` on every event."""
    fed, stepped = started(), started()
    passed_over = 0
    fed_out: list[object] = []
    stepped_out: list[object] = []
    for e in stream():
        passed_over += not controller.wants(fed, e.event_type.value, e.workflow, e.run_id)
        fed_out += [o.record for o in controller.feed(fed, config(), e, "replay")[1]]
        stepped_out += [o.record for o in controller.step(stepped, config(), e, "replay")[1]]
    assert fed_out == stepped_out and passed_over > 0
    assert snapshot.dump(fed) == snapshot.dump(stepped)


def test_wants_run_starts_of_live_rollouts_and_events_of_tracked_runs_only() -> None:
    state = started()
    assert controller.wants(state, "run_started", "refund_ticket", "r1")
    assert not controller.wants(state, "run_started", "triage_ticket", "r1")
    assert controller.wants(state, "run_started", None, "r1")  # no workflow header: decoded
    assert not controller.wants(state, "llm_call", "refund_ticket", "r1")  # not started: nothing tracked
    for e in traffic(T0, 1):
        controller.step(state, config(), e)
    assert controller.wants(state, "llm_call", "refund_ticket", "r0")
    assert not controller.wants(state, "tool_call_requested", "refund_ticket", "r0")
