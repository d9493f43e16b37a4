"""The rollout-controller's pure step: (state, record) -> (state, outputs).

Inputs: agent events (a run's release, spend, outcome), policy decisions (denials; a stop-ship),
alerts (pages), approval decisions (a human's answer to a promotion) and the control topic (operators'
rollout commands; stage records written before, which a restarted controller adopts). Outputs:
RolloutDecision records, the rollout's stage on the control topic (what the SDK assigns units from),
pages as Alert records and promotion requests for the approvals service.

Time is event time only. A step is judged at cut-offs c = step start + hold, then every
judge_every minutes, on the candidate's and the baseline's runs that started during the step and
completed before c. A judgment at c is made once the controller's clock has passed c + settle: the
clock is the oldest "newest event time" over the agent-event partitions that are not idle (as the
alerter's watermark, docs/decisions/0003-alerting-on-event-time.md), so a partition that lags does
not get its runs left out, and `settle` leaves time for the decisions and pages about runs that
completed just before c. So the live controller and `warden replay` judge the same runs at the same
cut-offs and make the same decisions; only records later than the settle time can make them differ.
A stop-ship by a candidate run is not judged at a cut-off: it rolls the candidate back at once.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from warden.core import topics
from warden.core.events import AgentEvent, EventType, RunStarted, RunStatus, utc_millis
from warden.core.headers import millis
from warden.core.metrics import RunOutcome
from warden.core.output import Output
from warden.core.records import (
    Alert,
    AlertKind,
    ApprovalDecision,
    ApprovalOutcome,
    Control,
    ControlKind,
    Decision,
    MetricFigure,
    PolicyDecision,
    RolloutAction,
    RolloutCommand,
    RolloutDecision,
    RolloutDecisionKind,
    RolloutStage,
    RolloutStatus,
    Severity,
)
from warden.cost.prices import PriceTable
from warden.rollout.event_view import AgentEventView
from warden.rollout.gates import COST_INCREASE, SUCCESS_DROP, Judgment, Sample, describe, judge
from warden.rollout.plan import RolloutPlan

CONTROLLER_ACTOR = "warden:rollout-controller"
STAGE_KEY = "rollout:{workflow}"
COMMAND_KEY = "rollout-command:{command_id}"
ROLLOUT_TENANT = "*"  # pages and promotion requests about a whole workflow, not one tenant
ROLLBACK_RULE = "rollout_rollback"
STOP_SHIP_RULE = "rollout_stop_ship"
_IDS = uuid.UUID("3c8e0f6a-9d2b-4f17-b5a4-7e1d6c0b9a52")

# The alert kind a rollback page carries: Alert.kind is an Avro enum, and a symbol added to it would
# make readers from before refuse the record, so a rollback reuses the closest kind and says which
# gate in `rule`, `labels` and the summary.
PAGE_KIND: dict[str, AlertKind] = {
    "task_success_rate": AlertKind.SUCCESS_RATE_DROP, SUCCESS_DROP: AlertKind.SUCCESS_RATE_DROP,
    "cost_per_task_usd": AlertKind.COST_SPIKE, COST_INCREASE: AlertKind.COST_SPIKE,
    "violation_rate": AlertKind.POLICY_BLOCK_SPIKE, "latency_p95_s": AlertKind.RUNAWAY_STEPS,
    "high_severity_rate": AlertKind.SUCCESS_RATE_DROP,
}


# An agent event, whole or as the controller's view of it (warden.rollout.event_view).
EVENTS = (AgentEvent, AgentEventView)


def new_id(*parts: object) -> str:
    return str(uuid.uuid5(_IDS, ":".join(str(p) for p in parts)))


@dataclass
class RunFacts:
    """What the gates need of one run of a release under rollout, with the event time of each fact."""

    workflow: str
    tenant_id: str
    release: str
    candidate: bool
    started_at: datetime
    completed_at: datetime | None = None
    status: RunStatus | None = None
    spend_usd: float = 0.0
    first_deny_at: datetime | None = None
    first_page_at: datetime | None = None

    def outcome(self, cutoff: datetime) -> RunOutcome | None:
        """The run as judged at `cutoff`: None until it completed before it."""
        if self.completed_at is None or self.completed_at >= cutoff:
            return None
        return RunOutcome(run_id="", tenant_id=self.tenant_id, workflow=self.workflow, release=self.release,
                          started_at=self.started_at, completed_at=self.completed_at, status=self.status,
                          spend_usd=self.spend_usd,
                          denials=int(self.first_deny_at is not None and self.first_deny_at < cutoff),
                          pages=int(self.first_page_at is not None and self.first_page_at < cutoff))


@dataclass
class Early:
    """Denials, stop-ships and pages for a run whose run_started has not been read yet (topics interleave)."""

    first_deny_at: datetime | None = None
    first_page_at: datetime | None = None
    stop_ship: PolicyDecision | None = None


@dataclass
class Rollout:
    stage: RolloutStage
    plan: RolloutPlan
    next_cutoff: datetime
    runs: dict[str, RunFacts] = field(default_factory=dict)  # this step's runs of baseline and candidate
    held_at: datetime | None = None  # the cut-off of this step's last hold (see Step.unchanged_until)

    @property
    def workflow(self) -> str:
        return self.stage.workflow

    def release_of(self, release: str) -> bool | None:
        """True for the candidate, False for the baseline, None for any other release."""
        return True if release == self.stage.candidate else False if release == self.stage.baseline else None


@dataclass
class Clock:
    """Event time as far as every agent-event partition has got (see the module docstring)."""

    newest: dict[str, int | None] = field(default_factory=dict)  # source -> newest event time (ms)
    idle: set[str] = field(default_factory=set)
    _last_ms: int = field(default=-1, repr=False, compare=False)  # a memo of `_at`, not state
    _last_at: datetime | None = field(default=None, repr=False, compare=False)

    def register(self, source: str) -> None:
        """An input that may deliver records: it holds the clock until it delivers or goes idle."""
        self.newest.setdefault(source, None)

    def advance(self, source: str, at: datetime) -> None:
        """A record anywhere means input flows again: every source holds the clock until it delivers (or the
        input goes quiet again), so a burst read one partition at a time does not run ahead of the others."""
        self.advance_ms(source, millis(at))

    def advance_ms(self, source: str, ms: int) -> None:
        """`advance` with the event time in epoch milliseconds (a routing header's, ADR 0019)."""
        self.idle.clear()
        seen = self.newest.get(source)
        self.newest[source] = ms if seen is None or ms > seen else seen

    def set_idle(self, source: str, idle: bool) -> None:
        (self.idle.add if idle else self.idle.discard)(source)

    def now(self) -> datetime | None:
        if not self.idle:  # the usual case, the same answer as below without building lists
            values = self.newest.values()
            if not values or None in values:
                return None
            return self._at(min(values))  # type: ignore[type-var,arg-type]  # no None among them
        seen = [t for t in self.newest.values() if t is not None]
        if not seen:
            return None
        active = [t for s, t in self.newest.items() if s not in self.idle]
        if any(t is None for t in active):
            return None
        return self._at(min(t for t in active if t is not None) if active else max(seen))

    def _at(self, ms: int) -> datetime:
        """The clock's time as a datetime, made once per value (it is asked for on every record)."""
        if ms != self._last_ms or self._last_at is None:
            self._last_ms, self._last_at = ms, utc_millis(datetime.fromtimestamp(ms / 1000, tz=UTC))
        return self._last_at


@dataclass
class ControllerState:
    rollouts: dict[str, Rollout] = field(default_factory=dict)  # by workflow
    run_workflow: dict[str, str] = field(default_factory=dict)  # tracked run -> workflow
    early: OrderedDict[str, Early] = field(default_factory=OrderedDict)
    commands: OrderedDict[str, None] = field(default_factory=OrderedDict)  # applied command ids
    clock: Clock = field(default_factory=Clock)
    early_capacity: int = 10_000


@dataclass(frozen=True)
class ControllerConfig:
    prices: PriceTable
    settle: timedelta = timedelta(seconds=10)


class Step:
    """One call of `step`: the state being changed and the outputs made, in order."""

    def __init__(self, state: ControllerState, config: ControllerConfig) -> None:
        self.state, self.config = state, config
        self.outputs: list[Output] = []

    # -- outputs ----------------------------------------------------------------------------------

    def stage_changed(self, rollout: Rollout, at: datetime, actor: str, reason: str, **changes: Any) -> None:
        rollout.stage = rollout.stage.model_copy(update={**changes, "seq": rollout.stage.seq + 1})
        self.outputs.append(Output(topics.CONTROL, STAGE_KEY.format(workflow=rollout.workflow),
                                   stage_record(rollout.stage, at, actor, reason)))

    def decide(self, rollout: Rollout, kind: RolloutDecisionKind, at: datetime, reason: str, step: int,
               window_start: datetime, judgment: Judgment | None = None, failed: Iterable[str] = (),
               manual: bool = False, actor: str | None = None, rationale: str | None = None,
               commanded_at: datetime | None = None) -> RolloutDecision:
        """The id is a function of the rollout, its stage and the decision's event time, so a controller that
        re-makes it (after a restart) makes the same record, which the ledger lands once. ``commanded_at``: when
        the operator gave the command or the approver decided (their clock), for a manual one."""
        stage = rollout.stage
        record = RolloutDecision(
            decision_id=new_id(stage.rollout_id, "decision", stage.seq, kind.value, int(at.timestamp() * 1000)),
            rollout_id=stage.rollout_id,
            workflow=stage.workflow, baseline=stage.baseline, candidate=stage.candidate, step=step,
            next_step=stage.percent, decision=kind, status=stage.status, reason=reason, failed_gates=list(failed),
            metrics=judgment.figures if judgment else {},
            baseline_metrics=judgment.baseline_figures if judgment else {},
            candidate_runs=judgment.candidate.metrics.runs if judgment else 0,
            candidate_completed=judgment.candidate.metrics.completed if judgment else 0,
            baseline_runs=judgment.baseline.metrics.runs if judgment else 0,
            baseline_completed=judgment.baseline.metrics.completed if judgment else 0,
            window_start=window_start, decided_at=at, manual=manual, actor=actor, rationale=rationale,
            approval_call_id=stage.approval_call_id, commanded_at=commanded_at)
        self.outputs.append(Output(topics.ROLLOUT_DECISIONS, stage.workflow, record))
        return record

    def page(self, rollout: Rollout, at: datetime, kind: AlertKind, rule: str, summary: str, *,
             tenant_id: str = ROLLOUT_TENANT, run_id: str | None = None, gate: str = "",
             figure: MetricFigure | None = None) -> None:
        stage = rollout.stage
        alert = Alert(
            alert_id=new_id(stage.rollout_id, "page", stage.seq), kind=kind, severity=Severity.PAGE,
            tenant_id=tenant_id, workflow=stage.workflow, run_id=run_id, summary=summary, first_seen=at,
            last_seen=at, count=1, rule=rule, fingerprint=f"rollout:{stage.rollout_id}",
            value=figure.value if figure else None, threshold=figure.target if figure else None,
            labels={"rollout_id": stage.rollout_id, "baseline": stage.baseline, "candidate": stage.candidate,
                    "gate": gate, "step": str(stage.steps[stage.step_index])})
        self.outputs.append(Output(topics.ALERTS, tenant_id, alert))

    # -- stage changes ----------------------------------------------------------------------------

    def new_step(self, rollout: Rollout, at: datetime) -> None:
        """The runs that started at or after the new step's start belong to it; the rest are let go, except the
        candidate's runs still in flight: no gate counts them (`samples` takes the step's starts only), but a
        stop-ship in one must still roll the candidate back. The policy-evaluator sets no kill switch for a
        candidate run of a live rollout, so a stop-ship in a run that began at 5% and hit the stop-ship after
        the promotion to 25% was acted on by nobody."""
        rollout.next_cutoff = at + timedelta(minutes=rollout.plan.hold_minutes)
        rollout.held_at = None
        kept = {run_id: facts for run_id, facts in rollout.runs.items()
                if facts.started_at >= at or (facts.candidate and facts.completed_at is None)}
        self.forget_runs(rollout, set(rollout.runs) - set(kept))
        rollout.runs = kept

    def forget_runs(self, rollout: Rollout, run_ids: Iterable[str]) -> None:
        for run_id in run_ids:
            self.state.run_workflow.pop(run_id, None)
            rollout.runs.pop(run_id, None)

    def promote(self, rollout: Rollout, at: datetime, reason: str, judgment: Judgment | None = None,
                actor: str | None = None, rationale: str | None = None, commanded_at: datetime | None = None) -> None:
        stage, manual = rollout.stage, actor is not None
        step, index, window = stage.percent, stage.step_index + 1, stage.step_started_at
        percent = stage.steps[index]
        done = index == len(stage.steps) - 1
        status = RolloutStatus.COMPLETED if done else RolloutStatus.RUNNING
        self.stage_changed(rollout, at, actor or CONTROLLER_ACTOR, reason, step_index=index, percent=percent,
                           status=status, step_started_at=at, approval_call_id=None)
        self.new_step(rollout, at)
        if done:
            self.forget_runs(rollout, list(rollout.runs))
        kind = RolloutDecisionKind.COMPLETE if done else RolloutDecisionKind.PROMOTE
        self.decide(rollout, kind, at, reason, step, window, judgment, manual=manual, actor=actor,
                    rationale=rationale, commanded_at=commanded_at)

    def rollback(self, rollout: Rollout, at: datetime, reason: str, judgment: Judgment | None = None,
                 failed: Iterable[str] = (), actor: str | None = None, rationale: str | None = None,
                 commanded_at: datetime | None = None) -> None:
        step, window = rollout.stage.percent, rollout.stage.step_started_at
        self.stage_changed(rollout, at, actor or CONTROLLER_ACTOR, reason, percent=0,
                           status=RolloutStatus.ROLLED_BACK, approval_call_id=None)
        self.forget_runs(rollout, list(rollout.runs))
        self.decide(rollout, RolloutDecisionKind.ROLLBACK, at, reason, step, window, judgment, failed,
                    manual=actor is not None, actor=actor, rationale=rationale, commanded_at=commanded_at)

    def needs_approval(self, rollout: Rollout) -> bool:
        """Whether a promotion from the current step waits for a named human (the plan's approval_after_step),
        the controller's own and an operator's alike."""
        stage = rollout.stage
        return stage.percent >= rollout.plan.approval_after_step and stage.step_index + 1 < len(stage.steps)

    def request_approval(self, rollout: Rollout, at: datetime, why: str, actor: str = CONTROLLER_ACTOR) -> None:
        """Ask the approvals service whether to promote from this step; ``why``: what the approver is told (the
        gates that passed, or who asked for a manual promotion and their rationale)."""
        stage = rollout.stage
        call_id = f"rollout:{stage.rollout_id}:{stage.step_index}:{int(at.timestamp() * 1000)}"
        target = stage.steps[stage.step_index + 1]
        reason = (f"rollout {stage.workflow} {stage.baseline}->{stage.candidate}: promote from {stage.percent}% "
                  f"to {target}%? {why}")
        self.outputs.append(Output(topics.APPROVAL_REQUESTS, f"rollout:{stage.rollout_id}", PolicyDecision(
            decision_id=new_id(call_id), event_id=call_id, call_id=call_id, run_id=f"rollout:{stage.rollout_id}",
            tenant_id=ROLLOUT_TENANT, decided_at=at, decision=Decision.REQUIRE_APPROVAL,
            policy_ids=[f"rollout:{stage.workflow}"], reason=reason, policy_version="rollout")))
        self.stage_changed(rollout, at, actor, f"promotion to {target}% waits for approval",
                           status=RolloutStatus.AWAITING_APPROVAL, approval_call_id=call_id)

    # -- judgment ---------------------------------------------------------------------------------

    def samples(self, rollout: Rollout, cutoff: datetime) -> tuple[Sample, Sample]:
        start = rollout.stage.step_started_at
        chosen: dict[bool, list[RunOutcome]] = {True: [], False: []}
        for run_id, facts in sorted(rollout.runs.items()):
            if start <= facts.started_at < cutoff and (outcome := facts.outcome(cutoff)) is not None:
                outcome.run_id = run_id
                chosen[facts.candidate].append(outcome)
        return Sample.of(chosen[True]), Sample.of(chosen[False])

    def judge(self, rollout: Rollout, cutoff: datetime) -> None:
        stage, plan = rollout.stage, rollout.plan
        rollout.next_cutoff = cutoff + timedelta(minutes=plan.judge_every_minutes)
        rollout.held_at = cutoff  # a hold leaves it; a promotion or rollback starts a step or ends the rollout
        candidate, baseline = self.samples(rollout, cutoff)
        judgment = judge(plan.gates, plan.confidence, candidate, baseline)
        held_for = cutoff - stage.step_started_at
        timed_out = plan.max_hold_minutes is not None and held_for >= timedelta(minutes=plan.max_hold_minutes)
        completed = candidate.metrics.completed
        if completed < plan.min_runs:
            reason = f"{completed} of {plan.min_runs} completed candidate runs needed at {stage.percent}%"
            if timed_out:
                self.rollback(rollout, cutoff, f"inconclusive after {held_for} at {stage.percent}%: {reason}",
                              judgment)
                self.page(rollout, cutoff, AlertKind.SUCCESS_RATE_DROP, ROLLBACK_RULE,
                          f"rollout {stage.workflow} {stage.candidate} rolled back: {reason}")
                return
            self.decide(rollout, RolloutDecisionKind.HOLD, cutoff, reason, stage.percent, stage.step_started_at,
                        judgment)
            return
        if judgment.failed:
            first = judgment.failed[0]
            reason = f"gate failed at {stage.percent}%: {judgment.describe(judgment.failed)}"
            self.rollback(rollout, cutoff, reason, judgment, judgment.failed)
            self.page(rollout, cutoff, PAGE_KIND[first], ROLLBACK_RULE,
                      f"rollout {stage.workflow} {stage.baseline}->{stage.candidate} rolled back at "
                      f"{stage.steps[stage.step_index]}%: {describe(first, judgment.figures[first])}",
                      gate=first, figure=judgment.figures[first])
            return
        if not judgment.passed:
            reason = f"inconclusive at {stage.percent}%: {judgment.describe(judgment.inconclusive)}"
            if timed_out:
                self.rollback(rollout, cutoff, f"still {reason} after {held_for}", judgment)
                self.page(rollout, cutoff, AlertKind.SUCCESS_RATE_DROP, ROLLBACK_RULE,
                          f"rollout {stage.workflow} {stage.candidate} rolled back: still {reason}")
                return
            self.decide(rollout, RolloutDecisionKind.HOLD, cutoff, reason, stage.percent, stage.step_started_at,
                        judgment)
            return
        passing = f"gates pass at {stage.percent}%: {judgment.describe(judgment.gated)}"
        if self.needs_approval(rollout):
            if stage.approval_call_id is None:
                self.request_approval(rollout, cutoff, f"gates pass: {judgment.describe(judgment.gated)}")
            self.decide(rollout, RolloutDecisionKind.HOLD, cutoff,
                        f"{passing}; promotion waits for approval (call {rollout.stage.approval_call_id})",
                        stage.percent, stage.step_started_at, judgment)
            return
        self.promote(rollout, cutoff, passing, judgment)

    def judge_due(self) -> None:
        now = self.state.clock.now()
        if now is None:
            return
        for workflow in sorted(self.state.rollouts):
            rollout = self.state.rollouts[workflow]
            while (rollout.stage.status in (RolloutStatus.RUNNING, RolloutStatus.AWAITING_APPROVAL)
                   and rollout.next_cutoff + self.config.settle <= now):
                if (later := self.unchanged_until(rollout, now - self.config.settle)) is not None:
                    rollout.next_cutoff = later
                    continue
                self.judge(rollout, rollout.next_cutoff)

    def unchanged_until(self, rollout: Rollout, due: datetime) -> datetime | None:
        """When the judgment at the next cut-off would repeat the step's last hold: the first later cut-off at
        which it may not (the first after a fact of the step's runs, the cut-off that reaches max_hold, or the
        first not yet due); None when it must be judged.

        The judgment at a cut-off c is a function of the step, the plan and the facts of the runs before c
        (completions, first denials and pages), so between two facts every cut-off repeats the last hold.
        Judging each of them anyway was a storm: a rollout started 7 days in the past judged 10,070 cut-offs
        at its first event, 1.2 CPU seconds, and wrote as many identical holds. Which cut-offs are judged
        depends only on the facts, not on how far the clock moved at once, so live and replay judge the same
        ones (what arrives later than the settle time can make them differ, as before)."""
        held, cutoff, plan = rollout.held_at, rollout.next_cutoff, rollout.plan
        if held is None or held >= cutoff:
            return None
        start = rollout.stage.step_started_at
        timeout = None if plan.max_hold_minutes is None else start + timedelta(minutes=plan.max_hold_minutes)
        if timeout is not None and held < timeout <= cutoff:
            return None  # the step timed out at this cut-off
        # a completed run counts at the cut-offs after both its start and its completion (event times from two
        # records, which need not be in order), its denial and page after theirs too
        facts = [at for f in rollout.runs.values() if f.started_at >= start
                 for at in (f.completed_at and max(f.started_at, f.completed_at), f.first_deny_at, f.first_page_at)
                 if at is not None and at >= held]
        if facts and min(facts) < cutoff:
            return None
        every = timedelta(minutes=plan.judge_every_minutes)
        later = [_grid(cutoff, every, due, strict=True)]
        if facts:
            later.append(_grid(cutoff, every, min(facts), strict=True))
        if timeout is not None and timeout > cutoff:
            later.append(_grid(cutoff, every, timeout, strict=False))
        return min(later)

    def touched(self, rollout: Rollout, facts: RunFacts, at: datetime | None = None) -> None:
        """A fact of ``facts`` changed (its spend, completion, first denial or page, at ``at``): when it counts at
        cut-offs the step's last hold was made after (it was read late: a page the alerter sends minutes after
        its first_seen, a completion from a lagging producer), the hold is no longer what the next cut-off
        repeats, so that one is judged, as it was when every cut-off was. A fact that counts only after the
        last hold is found by unchanged_until from the facts themselves."""
        held = rollout.held_at
        if held is None or facts.completed_at is None or facts.started_at < rollout.stage.step_started_at:
            return  # nothing skipped, or a run no judgment counts (yet)
        counts = max(facts.started_at, facts.completed_at) if at is None else max(facts.started_at,
                                                                                   facts.completed_at, at)
        if counts < held:
            rollout.held_at = None

    # -- inputs -----------------------------------------------------------------------------------

    def tracked(self, run_id: str) -> tuple[Rollout, RunFacts] | None:
        workflow = self.state.run_workflow.get(run_id)
        rollout = self.state.rollouts.get(workflow) if workflow else None
        facts = rollout.runs.get(run_id) if rollout else None
        return (rollout, facts) if rollout and facts else None

    def early(self, run_id: str) -> Early | None:
        """Kept only while some rollout is live, and only so many: they are denials of runs not read yet."""
        if not any(r.stage.status.live for r in self.state.rollouts.values()):
            return None
        early = self.state.early.get(run_id)
        if early is None:
            early = self.state.early[run_id] = Early()
            while len(self.state.early) > self.state.early_capacity:
                self.state.early.popitem(last=False)
        return early

    def event(self, event: AgentEvent | Any, source: str) -> None:
        """The full event (replay, the benchmark's pure step) or its view (the live runtime): the same fields."""
        self.state.clock.advance(source, event.occurred_at)
        body: Any = event.body  # a body or its view (the same fields, tests/rollout/test_event_view.py)
        kind = event.event_type  # either model holds a body of the type's record
        if kind == EventType.RUN_STARTED:
            self.run_started(event, body)
            return
        found = self.tracked(event.run_id)
        if found is None:
            return
        rollout, facts = found
        if kind == EventType.LLM_CALL:
            facts.spend_usd += self.config.prices.price(body, event.occurred_at).cost_usd
            self.touched(rollout, facts)
        elif kind == EventType.RUN_COMPLETED:
            self.touched(rollout, facts)  # a completion read before, replaced
            facts.completed_at, facts.status = event.occurred_at, body.status
            self.touched(rollout, facts)

    def run_started(self, event: AgentEvent | Any, body: RunStarted | Any) -> None:
        """A run of the baseline or the candidate. A candidate run that started before the step is tracked too,
        for its stop-ship only (no gate counts it: `samples` and `unchanged_until` take the step's starts): a
        step starts when its command was given (Step.manual_at), and a candidate run started under the step
        before, whose start is read after, must still roll the candidate back (new_step keeps those in flight
        for the same reason)."""
        rollout = self.state.rollouts.get(event.workflow)
        if rollout is None or not rollout.stage.status.live:
            return
        candidate = rollout.release_of(body.release_name)
        if candidate is None or (not candidate and event.occurred_at < rollout.stage.step_started_at):
            return
        facts = RunFacts(event.workflow, event.tenant_id, body.release_name, candidate, event.occurred_at)
        if (before := rollout.runs.get(event.run_id)) is not None:
            self.touched(rollout, before)  # a run started again: what it had counted no longer does
        rollout.runs[event.run_id] = facts
        self.state.run_workflow[event.run_id] = event.workflow
        early = self.state.early.pop(event.run_id, None)
        if early is not None:
            facts.first_deny_at, facts.first_page_at = early.first_deny_at, early.first_page_at
            if early.stop_ship is not None:
                self.stop_ship(rollout, facts, early.stop_ship)

    def decision(self, decision: PolicyDecision) -> None:
        if decision.decision != Decision.DENY:
            return
        found = self.tracked(decision.run_id)
        if found is None:
            early = self.early(decision.run_id)
            if early is None:
                return
            early.first_deny_at = _earliest(early.first_deny_at, decision.decided_at)
            if decision.stop_ship and early.stop_ship is None:
                early.stop_ship = decision
            return
        rollout, facts = found
        facts.first_deny_at = _earliest(facts.first_deny_at, decision.decided_at)
        self.touched(rollout, facts, facts.first_deny_at)
        if decision.stop_ship:
            self.stop_ship(rollout, facts, decision)

    def stop_ship(self, rollout: Rollout, facts: RunFacts, decision: PolicyDecision) -> None:
        if not facts.candidate or not rollout.stage.status.live:
            return  # a baseline run's stop-ship is the policy-evaluator's kill switch, as outside a rollout
        stage = rollout.stage
        reason = (f"stop-ship by candidate run {decision.run_id} (tenant {decision.tenant_id}) at {stage.percent}%: "
                  f"{decision.reason}")
        self.rollback(rollout, decision.decided_at, reason)
        self.page(rollout, decision.decided_at, AlertKind.UNAUTHORIZED_ACTION, STOP_SHIP_RULE,
                  f"rollout {stage.workflow} {stage.baseline}->{stage.candidate} rolled back: {reason}; the "
                  f"baseline keeps running", tenant_id=decision.tenant_id, run_id=decision.run_id, gate="stop_ship")

    def alert(self, alert: Alert) -> None:
        if alert.severity != Severity.PAGE or alert.status != "firing" or alert.run_id is None \
                or alert.rule.startswith("rollout"):
            return
        found = self.tracked(alert.run_id)
        if found is None:
            early = self.early(alert.run_id)
            if early is None:
                return
            early.first_page_at = _earliest(early.first_page_at, alert.first_seen)
            return
        rollout, facts = found
        facts.first_page_at = _earliest(facts.first_page_at, alert.first_seen)
        self.touched(rollout, facts, facts.first_page_at)

    def approval(self, approval: ApprovalDecision) -> None:
        for rollout in self.state.rollouts.values():
            stage = rollout.stage
            if stage.approval_call_id != approval.call_id or stage.status != RolloutStatus.AWAITING_APPROVAL:
                continue
            at, given = self.manual_at(rollout, approval.decided_at), approval.decided_at
            if approval.decision == ApprovalOutcome.APPROVED:
                self.promote(rollout, at, f"promotion from {stage.percent}% approved by {approval.approver}",
                             actor=approval.approver, rationale=approval.rationale, commanded_at=given)
            elif approval.decision == ApprovalOutcome.REJECTED:
                reason = f"promotion from {stage.percent}% rejected by {approval.approver}; paused"
                self.stage_changed(rollout, at, approval.approver, reason, status=RolloutStatus.PAUSED,
                                   approval_call_id=None)
                self.decide(rollout, RolloutDecisionKind.PAUSE, at, reason, stage.percent, stage.step_started_at,
                            manual=True, actor=approval.approver, rationale=approval.rationale, commanded_at=given)
            else:  # expired: the next passing judgment asks again (so it is made, though no run changed)
                rollout.held_at = None
                self.stage_changed(rollout, at, CONTROLLER_ACTOR, "promotion request expired; asking again",
                                   status=RolloutStatus.RUNNING, approval_call_id=None)

    def manual_at(self, rollout: Rollout, given: datetime) -> datetime:
        """When an operator's command or an approval on ``rollout`` counts as made, in event time: when it was
        given (``given``: the command record's time, which the approvals service stamps, or the approver's
        decided_at), as a start already is, but never before the event time the controller has reached (a
        judgment made at a later cut-off stays before it in the history) nor before its step started.

        It used to be the event time reached alone. On a stack where no event arrives that clock stands still:
        every command of a session got one decided_at, `warden rollout status` "since" did not move, and a
        promotion started its step at the last event read, in the past, so the idle time before the command
        counted towards the new step's hold and max_hold (a rollback at the first judgment once traffic came
        back). The command's own time is deterministic (it is in the record), so the live controller, a
        restarted one and `warden replay` still make the same decisions from the same records; judgments stay
        on the agent events' time (Clock), which a command does not move."""
        given = utc_millis(given)
        return max(given, self.state.clock.now() or given, rollout.stage.step_started_at)

    def control(self, control: Control) -> None:
        if control.rollout_command is not None:
            self.command(control, control.rollout_command)
        elif control.rollout is not None:
            self.adopt(control.rollout)

    def adopt(self, stage: RolloutStage) -> None:
        """A stage record on the control topic: an echo of ours, or one a controller before this one wrote."""
        current = self.state.rollouts.get(stage.workflow)
        newer = current is None or (stage.rollout_id == current.stage.rollout_id and stage.seq > current.stage.seq) \
            or (stage.rollout_id != current.stage.rollout_id and not current.stage.status.live)
        if not newer:
            return
        plan = RolloutPlan.from_json(stage.plan)
        rollout = Rollout(stage, plan, stage.step_started_at + timedelta(minutes=plan.hold_minutes))
        if current is not None and current.stage.rollout_id == stage.rollout_id:
            rollout.runs = current.runs
            rollout.next_cutoff = max(current.next_cutoff, rollout.next_cutoff)
            if _judged_alike(current.stage, stage):
                rollout.held_at = current.held_at
        self.state.rollouts[stage.workflow] = rollout
        for command_id in stage.command_ids:
            self.state.commands[command_id] = None

    def command(self, control: Control, command: RolloutCommand) -> None:
        if command.command_id in self.state.commands:
            return
        self.state.commands[command.command_id] = None
        while len(self.state.commands) > 10_000:
            self.state.commands.popitem(last=False)
        current = self.state.rollouts.get(command.workflow)
        if command.action == RolloutAction.START:
            if command.plan is None or (current is not None and current.stage.status.live):
                return  # the CLI refuses these first; a racing second start is dropped here
            plan = RolloutPlan.from_json(command.plan)
            if plan.require_eval and not command.eval_run_id:
                return  # the start path found no passing eval of the candidate (warden.rollout.evidence): fail closed
            self.start(control, command, plan)
            return
        if current is None or current.stage.rollout_id != (command.rollout_id or current.stage.rollout_id) \
                or not current.stage.status.live:
            return
        self.manual(current, control, command)

    def start(self, control: Control, command: RolloutCommand, plan: RolloutPlan) -> None:
        at = plan.start_at or utc_millis(control.at)
        stage = RolloutStage(rollout_id=command.command_id, workflow=plan.workflow, baseline=plan.baseline,
                             candidate=plan.candidate, steps=list(plan.steps), step_index=0, percent=plan.steps[0],
                             status=RolloutStatus.RUNNING, plan=plan.to_json(), step_started_at=at, seq=0,
                             command_ids=[command.command_id])
        rollout = Rollout(stage, plan, at + timedelta(minutes=plan.hold_minutes))
        for workflow_run in [r for r, w in self.state.run_workflow.items() if w == plan.workflow]:
            self.state.run_workflow.pop(workflow_run, None)
        self.state.rollouts[plan.workflow] = rollout
        reason = f"started by {control.actor}: {plan.baseline} -> {plan.candidate} over {list(plan.steps)}%"
        if command.eval_run_id:
            reason += f"; eval {command.eval_run_id} of {plan.candidate} met its targets"
        self.stage_changed(rollout, at, control.actor, reason)
        self.decide(rollout, RolloutDecisionKind.START, at, reason, 0, at, manual=True, actor=control.actor,
                    rationale=command.rationale or None, commanded_at=utc_millis(control.at))

    def manual(self, rollout: Rollout, control: Control, command: RolloutCommand) -> None:
        at, who, why = self.manual_at(rollout, control.at), control.actor, command.rationale or None
        given = utc_millis(control.at)
        stage = rollout.stage
        rollout.stage = stage.model_copy(update={"command_ids": [*stage.command_ids, command.command_id]})
        if command.action == RolloutAction.PROMOTE and self.needs_approval(rollout):
            self.ask_to_promote(rollout, at, who, why, given)
        elif command.action == RolloutAction.PROMOTE:
            self.promote(rollout, at, f"promoted from {stage.percent}% by {who}", actor=who, rationale=why,
                         commanded_at=given)
        elif command.action == RolloutAction.ROLLBACK:
            self.rollback(rollout, at, f"rolled back from {stage.percent}% by {who}", actor=who, rationale=why,
                          commanded_at=given)
        elif command.action == RolloutAction.PAUSE and stage.status != RolloutStatus.PAUSED:
            reason = f"paused at {stage.percent}% by {who}"
            self.stage_changed(rollout, at, who, reason, status=RolloutStatus.PAUSED, approval_call_id=None)
            self.decide(rollout, RolloutDecisionKind.PAUSE, at, reason, stage.percent, stage.step_started_at,
                        manual=True, actor=who, rationale=why, commanded_at=given)
        elif command.action == RolloutAction.RESUME and stage.status == RolloutStatus.PAUSED:
            reason = f"resumed at {stage.percent}% by {who}"
            rollout.next_cutoff = max(rollout.next_cutoff, at)
            rollout.held_at = None  # the first judgment after a resume is recorded, changed or not
            self.stage_changed(rollout, at, who, reason, status=RolloutStatus.RUNNING)
            self.decide(rollout, RolloutDecisionKind.RESUME, at, reason, stage.percent, stage.step_started_at,
                        manual=True, actor=who, rationale=why, commanded_at=given)

    def ask_to_promote(self, rollout: Rollout, at: datetime, who: str, why: str | None, given: datetime) -> None:
        """An operator's promotion from approval_after_step on: it skips the evidence gates, not the approval.
        It puts the same request on the approvals service as the controller's own passing judgment, and the
        approver's decision promotes (or a rejection pauses); while it waits, the step is judged as any step
        awaiting approval (a failing gate still rolls back). Before, a `warden rollout promote` from 25% went
        to 100% at once, no named approver asked (issue 11: promotion past the step waits for one)."""
        stage = rollout.stage
        target = stage.steps[stage.step_index + 1]
        if stage.status == RolloutStatus.AWAITING_APPROVAL and stage.approval_call_id is not None:
            reason = (f"promotion from {stage.percent}% to {target}% asked by {who}: already waits for approval "
                      f"(call {stage.approval_call_id})")
            self.stage_changed(rollout, at, who, reason)  # lists the command, so its sender hears back
        else:
            self.request_approval(rollout, at, f"asked by {who} ({why or 'no rationale'}); the evidence gates "
                                               "are skipped, not the approval", actor=who)
            reason = (f"promotion from {stage.percent}% to {target}% asked by {who} waits for approval "
                      f"(call {rollout.stage.approval_call_id}); the evidence gates are skipped, not the approval")
        self.decide(rollout, RolloutDecisionKind.HOLD, at, reason, stage.percent, stage.step_started_at,
                    manual=True, actor=who, rationale=why, commanded_at=given)


def _grid(cutoff: datetime, every: timedelta, at: datetime, *, strict: bool) -> datetime:
    """The first of cutoff, cutoff + every, ... after `at` (strict) or at or after it."""
    if at < cutoff:
        return cutoff
    steps = (at - cutoff) // every + 1 if strict else -((cutoff - at) // every)
    return cutoff + steps * every


def _judged_alike(before: RolloutStage, after: RolloutStage) -> bool:
    """Whether a judgment reads the same of the two stages (Step.judge: the step, its start, the plan, the
    approval asked for, and whether one is awaited), so the last hold made in ``before`` holds in ``after``."""
    def read(stage: RolloutStage) -> tuple[Any, ...]:
        return (stage.step_started_at, stage.step_index, stage.percent, stage.steps, stage.plan,
                stage.approval_call_id, stage.status)
    return read(before) == read(after)


def _earliest(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or at < current else current


def stage_record(stage: RolloutStage, at: datetime, actor: str, reason: str) -> Control:
    return Control(kind=ControlKind.READ_ONLY, scope=f"tool:rollout:{stage.workflow}", active=False, actor=actor,
                   reason=f"rollout {stage.workflow} {stage.baseline}->{stage.candidate} at {stage.percent}% "
                          f"({stage.status.value}): {reason}", at=at, rollout=stage)


def command_record(command: RolloutCommand, actor: str, at: datetime) -> Control:
    return Control(kind=ControlKind.READ_ONLY, scope=f"tool:rollout:{command.workflow}", active=False, actor=actor,
                   reason=f"rollout command {command.action.value} {command.workflow}: {command.rationale}", at=at,
                   rollout_command=command)


def step(state: ControllerState, config: ControllerConfig, message: BaseModel,
         source: str = "agent.events") -> tuple[ControllerState, list[Output]]:
    """`source` names the input an AgentEvent came from (its topic partition live, one name in replay)."""
    run = Step(state, config)
    if isinstance(message, EVENTS):
        run.event(message, source)
    elif isinstance(message, PolicyDecision):
        run.decision(message)
    elif isinstance(message, Alert):
        run.alert(message)
    elif isinstance(message, ApprovalDecision):
        run.approval(message)
    elif isinstance(message, Control):
        run.control(message)
    run.judge_due()
    return state, run.outputs


# The agent events the controller acts on; the others (tool calls) only move its clock (`passed`).
READS: frozenset[str] = frozenset({EventType.RUN_STARTED.value, EventType.LLM_CALL.value,
                                   EventType.RUN_COMPLETED.value})


def passed(state: ControllerState, config: ControllerConfig, source: str,
           at: datetime | int) -> tuple[ControllerState, list[Output]]:
    """An agent event the controller does not read (`wants`), known by its event time alone (a datetime, or
    epoch milliseconds as the routing header has it): exactly what `step` does with one (a tool call's body, or
    an untracked run's event, changes no run's facts), so the shell need not decode it (ADR 0019, 0020)."""
    state.clock.advance_ms(source, at if isinstance(at, int) else millis(at))
    run = Step(state, config)
    run.judge_due()
    return state, run.outputs


def passed_many(state: ControllerState, config: ControllerConfig,
                moves: Iterable[tuple[str, int]]) -> tuple[ControllerState, list[Output]]:
    """`passed` for consecutive events (source, epoch ms) with nothing stepped between them: the clock moves
    for each, then due judgments are made once. The same outputs as `passed` one by one: between them only the
    clock changed, it never goes back (each source keeps its newest time, and `now` is their minimum), and a
    judgment at a cut-off depends on the runs and the cut-off, not on how far past it the clock is."""
    clock = state.clock
    newest, moved = clock.newest, False
    for source, ms in moves:  # Clock.advance_ms for each, written out: most of the events the live shell reads
        seen = newest.get(source)
        if seen is None or ms > seen:
            newest[source] = ms
        moved = True
    if moved:
        clock.idle.clear()
    run = Step(state, config)
    run.judge_due()
    return state, run.outputs


def wants(state: ControllerState, event_type: str, workflow: str | None, run_id: str | None) -> bool:
    """Whether an agent event can change more than the clock, from its routing facts alone (its type and
    workflow headers, its run id: the record key), so the shell need not decode one that cannot.

    A run start counts only for a workflow with a live rollout (`Step.run_started` returns at once
    otherwise); an LLM call or a run completion only for a run being tracked (`Step.tracked`). Every other
    event of READS does exactly what `passed` does: the clock moves, due judgments are made."""
    if event_type not in READS:
        return False
    if event_type == EventType.RUN_STARTED.value:
        if workflow is None:
            return True
        rollout = state.rollouts.get(workflow)
        return rollout is not None and rollout.stage.status.live
    return run_id is None or run_id in state.run_workflow


def feed(state: ControllerState, config: ControllerConfig, message: BaseModel,
         source: str = "agent.events") -> tuple[ControllerState, list[Output]]:
    """`step`, with the live shell's rule for events it passes over (`wants`): replay feeds every record
    through here, before its own dedupe, as the live runtime decides before its memory of ids."""
    if isinstance(message, EVENTS):
        event: Any = message  # the whole event or its view: the same routing fields
        if not wants(state, event.event_type.value, event.workflow, event.run_id):
            return passed(state, config, source, event.occurred_at)
    return step(state, config, message, source)


def idle(state: ControllerState, config: ControllerConfig,
         source: str | None = None) -> tuple[ControllerState, list[Output]]:
    """The shell saw `source` (None: every input) reach its end and stay quiet: it stops holding the clock."""
    for name in [source] if source is not None else list(state.clock.newest):
        state.clock.set_idle(name, True)
    run = Step(state, config)
    run.judge_due()
    return state, run.outputs
