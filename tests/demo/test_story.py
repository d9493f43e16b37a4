"""The demo's story, pure: the same seed makes the same runs, and its plans are sized so the real
controller, fed those runs, rolls one candidate back on the cost gate and promotes the other.

The assignment is the pure one the SDK's release_for computes (warden.core.rollout_assign over the stage the
controller wrote), so these runs are the ones the live demo makes at each step.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from warden.core.events import AgentEvent
from warden.core.records import Control, RolloutAction, RolloutCommand, RolloutDecision, RolloutStatus
from warden.core.rollout_assign import Assignment, assign
from warden.core.rollout_book import RolloutBook
from warden.core.workflows import contract_for, load_contracts
from warden.demo import story
from warden.demo.agents import Platform
from warden.demo.approver import judge
from warden.policy.bundle import DEFAULT_POLICIES, load_bundle
from warden.policy_evaluator.processor import EvaluatorState
from warden.policy_evaluator.processor import step as evaluate
from warden.replay.runner import default_rollout_config
from warden.rollout import controller

START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


class Rehearsal:
    """The story against the pure controller and evaluator, as the live demo plays it against the stack."""

    def __init__(self, seed: int = 7) -> None:
        self.book = RolloutBook()
        self.evaluator = EvaluatorState()
        self.platform = Platform(seed, START, "story", self.assign)
        self.state = controller.ControllerState()
        self.state.clock.register("replay")
        self.config = default_rollout_config()
        self.bundle = load_bundle(DEFAULT_POLICIES)
        self.decisions: list[RolloutDecision] = []
        self.switches: list[Control] = []
        contracts = load_contracts()
        for plan in story.plans(START):
            resolved = plan.resolved(contract_for(contracts, plan.workflow))
            command = RolloutCommand(command_id=plan.workflow, action=RolloutAction.START,
                                                workflow=plan.workflow, plan=resolved.to_json(), rationale="demo")
            self.feed(controller.command_record(command, story.OPERATOR, START))

    def assign(self, tenant: str, workflow: str, unit: str) -> Assignment:
        if not self.evaluator.switches.is_enabled(tenant, workflow):
            return Assignment(None, fallback=contract_for(load_contracts(), workflow).fallback)
        return assign(self.book.get(workflow), workflow, unit)

    def feed(self, message: BaseModel) -> None:
        if isinstance(message, AgentEvent):
            _, decided = evaluate(self.evaluator, self.bundle, message)
            for output in decided:
                if isinstance(output.record, Control):
                    self.switches.append(output.record)
                    self.evaluator.switches.apply(output.record)
        _, outputs = controller.step(self.state, self.config, message, "replay")
        for output in outputs:
            if isinstance(output.record, Control):
                self.book.apply(output.record)
                self.evaluator.switches.apply(output.record)
                self.evaluator.rollouts.apply(output.record)
            elif isinstance(output.record, RolloutDecision):
                self.decisions.append(output.record)

    def until(self, minutes: float) -> list[AgentEvent]:
        promoted = self.book.get(story.PROMOTED_ROLLOUT)
        weights = story.PHASE_1 if promoted is not None and promoted.percent <= 5 else story.PHASE_2
        events = self.platform.until(self.platform.clock + timedelta(minutes=minutes), weights)
        for event in events:
            self.feed(event)
        return events


def test_the_same_seed_makes_the_same_runs_and_another_seed_other_ones() -> None:
    def runs(seed: int) -> list[str]:
        agents = Platform(seed, START, "story", lambda tenant, workflow, unit: assign(None, workflow, unit))
        events = agents.until(START + timedelta(minutes=30), story.PHASE_3) + agents.incident()
        return [e.model_dump_json() for e in events]

    assert runs(7) == runs(7)
    assert runs(7) != runs(8)


def test_the_story_rolls_back_on_the_cost_gate_at_5_and_promotes_on_every_gate() -> None:
    rehearsal = Rehearsal()
    for _ in range(60):  # three hours and more of event time at 5%, five minutes at a time
        rehearsal.until(5)
        if all(not (s := rehearsal.book.get(w)) or s.percent != 5 or s.status != RolloutStatus.RUNNING
               for w in (story.COST_ROLLOUT, story.PROMOTED_ROLLOUT)):
            break
    kinds = {(d.workflow, d.decision.value, d.step) for d in rehearsal.decisions if d.decision.value != "hold"}
    rollback = next(d for d in rehearsal.decisions if d.decision.value == "rollback")
    assert (rollback.workflow, rollback.step, rollback.failed_gates) == (story.COST_ROLLOUT, 5,
                                                                       ["cost_increase_vs_baseline"])
    assert 0.3 < rollback.metrics["cost_increase_vs_baseline"].value < 0.5  # type: ignore[operator]
    assert (story.PROMOTED_ROLLOUT, "promote", 5) in kinds
    promote = next(d for d in rehearsal.decisions if d.decision.value == "promote")
    assert all(f.verdict == "pass" for f in promote.metrics.values() if f.bound)
    assert promote.candidate_completed >= 90
    for _ in range(30):  # the 25% step, to its passing judgment: then the promotion waits for a human
        rehearsal.until(5)
        stage = rehearsal.book.get(story.PROMOTED_ROLLOUT)
        if stage is not None and stage.status == RolloutStatus.AWAITING_APPROVAL:
            break
    assert stage is not None and (stage.status, stage.percent) == (RolloutStatus.AWAITING_APPROVAL, 25)
    assert judge(stage.approval_call_id or "", None, {})[0] == "approve"


def test_the_incident_trips_one_kill_switch_and_the_agents_take_the_fallback() -> None:
    rehearsal = Rehearsal()
    rehearsal.until(20)
    for event in rehearsal.platform.incident():
        rehearsal.feed(event)
    assert [(s.scope, s.actor) for s in rehearsal.switches] == [("workflow:triage_ticket", "warden:stop-ship")]
    later = rehearsal.until(60)
    assert not any(e.workflow == "triage_ticket" for e in later)
    assert rehearsal.platform.seen.fallbacks[("triage_ticket", "rules")] > 0
    calls = Counter(e.event_type.value for e in later)
    assert calls["tool_call_requested"] > 0


def test_the_approver_decides_on_what_a_request_asks() -> None:
    assert judge("c1", "payments.refund", {"amount_usd": 620.0})[0] == "reject"
    assert judge("c2", "payments.refund", {"amount_usd": 150.0})[0] == "approve"
    assert judge("c3", "iam.grant_access", {"role": "owner"})[0] == "reject"
    assert judge("c4", "iam.grant_access", {"role": "admin"})[0] == "approve"
    assert all(judge("c5", tool, {})[1] for tool in ("email.send", None))  # every decision has its rationale
