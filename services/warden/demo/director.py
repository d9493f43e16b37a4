"""Plays the demo story (warden.demo.story) against a running stack, step by step.

Each step's runs are made only once what decides them is known: the SDK's own view says which
release each user runs (the controller's last decision) and which workflows are switched off (the
evaluator's stop-ship). So the story is the same for a seed on every run, whatever the machine's
speed: the demo waits where the stack's answer changes what the agents do next, and only there.
It waits at a gate's cut-off only when the step has its min_runs of completed candidate runs (below
that the controller holds, which changes nothing); there it sends one run past the cut-off and the
settle time, so the controller's event-time clock passes it once the input goes quiet, and reads
the decision the controller made.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx

from warden.core.errors import LedgerError, WardenError
from warden.core.events import AgentEvent, RunCompleted, RunStarted, ToolCallRequested
from warden.core.records import ControlKind, RolloutAction, RolloutDecision, RolloutDecisionKind, RolloutStatus
from warden.core.settings import WardenSettings
from warden.core.workflows import contract_for, load_contracts
from warden.demo import story
from warden.demo.agents import Platform
from warden.demo.approver import Approver
from warden.kafka.control import publish
from warden.ledger.endpoint import ENDPOINT_FILE
from warden.rollout.plan import RolloutPlan
from warden.rollout_controller.operate import Rollouts
from warden.sdk import WardenClient

Say = Callable[[str], None]


def query(settings: WardenSettings, sql: str, patience_s: float = 180.0) -> tuple[list[str], list[list[Any]]]:
    """Read-only SQL through the running stack's ledger endpoint, and only through it, tried again when it
    fails. Not access.query: on a loaded machine its 1 s health check of the endpoint can time out, and it
    then opens the ledger itself, which the running ledger-sink holds (chDB allows one process a path).
    ``patience_s``: long enough to ride out a restart of the ledger-sink (its endpoint file is gone until it
    serves again: at load 30 a sink dropped from its group and restarted, and 7.5 s of retries failed a demo)."""
    path = settings.data_dir / ENDPOINT_FILE
    deadline = time.monotonic() + patience_s
    attempt = 0
    while True:
        attempt += 1
        try:
            found = json.loads(path.read_text())
            response = httpx.post(f"{found['url']}/query", json={"sql": sql}, timeout=120,
                                  headers={"Authorization": f"Bearer {found['token']}"})
            body = response.json()
            if response.status_code == 200:
                return body["columns"], [list(r) for r in body["rows"]]
            if response.status_code < 500:
                raise LedgerError(f"the ledger refused the demo's query: {body.get('error', response.text)}")
            failure = f"HTTP {response.status_code}: {body.get('error', response.text)}"
        except (OSError, ValueError, KeyError, httpx.HTTPError) as exc:
            failure = str(exc)
        if time.monotonic() >= deadline:
            raise LedgerError(f"the ledger endpoint of the running stack ({path}) did not answer within "
                              f"{patience_s:g} s ({attempt} attempts): {failure}")
        time.sleep(min(5.0, 0.5 * attempt))


@dataclass
class Tracked:
    """The director's own account of a rollout, to know when a cut-off can change something."""

    plan: RolloutPlan
    step_start: datetime
    percent: int
    next_cutoff: datetime
    live: bool = True
    decisions: list[RolloutDecision] = field(default_factory=list)


@dataclass
class RunSeen:
    workflow: str
    release: str
    started_at: datetime
    completed_at: datetime | None = None


class Director:
    def __init__(self, settings: WardenSettings, client: WardenClient, rollouts: Rollouts, platform: Platform,
                 approver: Approver, say: Say, settle: timedelta, with_rollouts: bool = True,
                 timeout_s: float = 300.0) -> None:
        self.settings, self.client, self.rollouts, self.platform = settings, client, rollouts, platform
        self.approver, self.say, self.settle = approver, say, settle
        self.with_rollouts = with_rollouts
        self.deadline = time.monotonic() + timeout_s
        self.emitted: list[AgentEvent] = []
        self.calls = 0
        self.runs: dict[str, RunSeen] = {}
        self.tracked: dict[str, Tracked] = {}
        self.switch_on = False
        self.incident_cutoff: datetime | None = None
        self.prefix = platform.sim.run_prefix

    # -- talking to the stack ---------------------------------------------------------------------

    def emit(self, events: list[AgentEvent]) -> None:
        for event in events:
            self.client.emit(event)
            self.calls += event.event_type == "tool_call_requested"
            body = event.body
            if isinstance(body, ToolCallRequested):
                self.approver.know(body.call_id, f"{body.tool}.{body.action}", body.params_exact())
        self.client.flush()
        self.emitted.extend(events)

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise WardenError(f"the demo story did not finish in time; see the logs in "
                              f"{self.settings.data_dir / 'logs'}")
        return left

    def wait_for(self, what: str, ready: Callable[[], bool], poll_s: float = 0.2) -> None:
        while not ready():
            if self._left() <= poll_s:
                raise WardenError(f"timed out waiting for {what}; see the logs in {self.settings.data_dir / 'logs'}")
            time.sleep(poll_s)

    def counts(self) -> tuple[int, int, int]:
        """Events landed, policy decisions and risk scores of this demo's runs."""
        like = f"'{self.prefix}-%'"
        _, rows = query(self.settings, (
            f"SELECT (SELECT count() FROM warden.agent_events WHERE run_id LIKE {like}), "
            f"(SELECT count() FROM warden.policy_decisions WHERE run_id LIKE {like}), "
            f"(SELECT uniqExact(event_id) FROM warden.risk_scores WHERE run_id LIKE {like} AND subject = 'tool_call')"))
        return int(rows[0][0]), int(rows[0][1]), int(rows[0][2])

    def wait_decided(self) -> None:
        """Every call emitted so far decided by policy and scored (so its approval request, if any, is out)."""
        self.wait_for("the policy decisions and risk scores of the calls emitted so far",
                      lambda: (c := self.counts())[1] >= self.calls and c[2] >= self.calls, 0.3)

    def _sees(self, workflow: str, status: RolloutStatus, percent: int) -> bool:
        """Whether the SDK's own view of the control topic (what release_for reads) has this stage."""
        stage = self.client._control_view().rollouts.get(workflow)
        return stage is not None and stage.status == status and stage.percent == percent

    # -- the story --------------------------------------------------------------------------------

    def start_rollouts(self, start: datetime) -> None:
        contracts = load_contracts()
        for plan in story.plans(start):
            self._roll_back_left_over(plan.workflow)
            resolved = plan.resolved(contract_for(contracts, plan.workflow))
            stage = self.rollouts.send(RolloutAction.START, plan.workflow, story.OPERATOR,
                                       f"release {plan.candidate} of {plan.workflow} (demo)", resolved,
                                       command_id=self.rollout_id(self.prefix, plan.workflow))
            self.tracked[plan.workflow] = Tracked(resolved, start, stage.percent,
                                                  start + timedelta(minutes=resolved.hold_minutes))
            self.wait_for(f"the SDK to see the rollout of {plan.workflow}",
                          partial(self._sees, plan.workflow, RolloutStatus.RUNNING, plan.steps[0]))
            self.say(f"rollout started by {story.OPERATOR}: {plan.workflow} {plan.baseline} -> {plan.candidate} "
                     f"over {list(plan.steps)}% (min_runs {plan.min_runs}, hold {plan.hold_minutes:g} min, "
                     f"confidence {plan.confidence:g})")

    def _roll_back_left_over(self, workflow: str) -> None:
        """A rollout an earlier demo of this seed started and never finished (it failed or was stopped half-way)
        (cli/demo.py picks a demo number whose own rollout ids are unused, so this one's id is never the live one)
        would make this start refuse: roll it back, said on the way. Any other live rollout is someone's and
        stays: the start then refuses with its reason."""
        current = self.rollouts.stage(workflow)
        if current is None or not current.status.live:
            return
        seed, _, count = self.prefix.rpartition("-")
        earlier = [f"{seed}-{n:03d}" for n in range(1, int(count))]
        left = next((p for p in earlier if current.rollout_id == self.rollout_id(p, workflow)), None)
        if left is None:
            return
        self.rollouts.send(RolloutAction.ROLLBACK, workflow, story.OPERATOR,
                           f"left live by demo {left}, which did not finish; this demo starts it again")
        self.say(f"rolled back {workflow}'s rollout left live by demo {left} (it did not finish)")

    @staticmethod
    def rollout_id(prefix: str, workflow: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}/{workflow}"))

    def completed_candidates(self, tracked: Tracked, cutoff: datetime) -> int:
        return sum(1 for r in self.runs.values() if r.workflow == tracked.plan.workflow
                   and r.release == tracked.plan.candidate and tracked.step_start <= r.started_at < cutoff
                   and r.completed_at is not None and r.completed_at < cutoff)

    def weights(self) -> dict[str, float]:
        promoted = self.tracked.get(story.PROMOTED_ROLLOUT)
        if promoted is None or not promoted.live:
            return story.PHASE_3
        return story.PHASE_1 if promoted.percent <= 5 else story.PHASE_2

    def play(self, start: datetime, minimum_events: int) -> None:
        """Both rollouts to their end, the incident and the revive on the way; then the last traffic."""
        if self.with_rollouts:
            self.start_rollouts(start)
            self.rollout_steps()
        else:  # the incident and the revive still happen, in --events' traffic
            self.emit(self.platform.until(None, story.PHASE_3, events=minimum_events // 2) + self.platform.incident())
            self.wait_decided()
            self.after_incident()
            self.approver.work(self.say)
            self.emit(self.platform.until(None, story.PHASE_3, events=minimum_events // 4))
            self.wait_decided()
        if self.switch_on:
            self.revive()
        self.final(minimum_events)

    def rollout_steps(self) -> None:
        """Runs up to each cut-off; where the step has its min_runs of completed candidate runs (counted
        exactly: every run that starts before the cut-off is made before the count), stop and read the
        decision; below min_runs the controller holds, which changes nothing the agents do."""
        for _ in range(60):
            self.refresh()
            live = [t for t in self.tracked.values() if t.live]
            if not live:
                return
            cutoff = min(t.next_cutoff for t in live)
            due = [t for t in live if t.next_cutoff == cutoff]
            events = self.platform.until(cutoff, self.weights())
            self.runs_of(events)
            if not any(self.completed_candidates(t, cutoff) >= t.plan.min_runs for t in due):
                self.emit(events)
                for t in due:
                    t.next_cutoff = cutoff + timedelta(minutes=t.plan.judge_every_minutes)
                continue
            if self.incident_cutoff is None:
                incident = self.platform.incident()
                self.runs_of(incident)
                events += incident
                self.incident_cutoff = cutoff
            self.emit(events)
            self.at_cutoff(cutoff, due)
        raise WardenError("the rollouts did not finish within 60 cut-offs")

    def refresh(self) -> None:
        """A rollout the controller ended on its own (a stop-ship of a candidate run) is no longer tracked."""
        for tracked in self.tracked.values():
            latest = self.rollouts.decisions.latest.get(tracked.plan.workflow)
            if tracked.live and latest is not None and not latest.status.live and latest not in tracked.decisions:
                self.apply(tracked, latest, latest.decided_at)

    def runs_of(self, events: list[AgentEvent]) -> None:
        """The runs made, before they are emitted (whether a cut-off can decide anything depends on them)."""
        for event in events:
            body = event.body
            if isinstance(body, RunStarted):
                self.runs[event.run_id] = RunSeen(event.workflow, body.release_name, event.occurred_at)
            elif isinstance(body, RunCompleted) and event.run_id in self.runs:
                self.runs[event.run_id].completed_at = event.occurred_at

    def at_cutoff(self, cutoff: datetime, due: list[Tracked]) -> None:
        promoted = self.tracked.get(story.PROMOTED_ROLLOUT)
        past_first_step = promoted is None or not promoted.live or promoted.percent > promoted.plan.steps[0]
        self.wait_decided()
        if self.incident_cutoff == cutoff:
            self.after_incident()
        self.approver.work(self.say)
        self.platform.jump(cutoff + self.settle + timedelta(seconds=1))
        self.emit(self.platform.run("acme", "provision_access"))  # past the cut-off: the clock moves on
        for tracked in due:
            self.wait_for(f"the rollout-controller's decision on {tracked.plan.workflow} at {cutoff:%H:%M}",
                          partial(self._decided, tracked, cutoff), 0.1)
            self.apply(tracked, self.rollouts.decisions.latest[tracked.plan.workflow], cutoff)
        awaiting = [t for t in due if t.decisions and t.decisions[-1].status == RolloutStatus.AWAITING_APPROVAL]
        if awaiting:
            wanted = {t.decisions[-1].approval_call_id for t in awaiting}
            self.wait_for("the promotion requests to reach the approvals service",
                          lambda: wanted <= {i["call_id"] for i in self.approver.pending()})
            self.approver.work(self.say)
            for tracked in awaiting:
                self.wait_for(f"the promotion of {tracked.plan.workflow} after its approval",
                              partial(self._decided, tracked, cutoff, RolloutDecisionKind.HOLD), 0.1)
                self.apply(tracked, self.rollouts.decisions.latest[tracked.plan.workflow], cutoff)
        if self.switch_on and self.incident_cutoff is not None and cutoff > self.incident_cutoff and past_first_step:
            self.revive()  # on-call has had the whole second step to investigate

    def _decided(self, tracked: Tracked, cutoff: datetime, after: RolloutDecisionKind | None = None) -> bool:
        latest = self.rollouts.decisions.latest.get(tracked.plan.workflow)
        if latest is None or (latest.decided_at < cutoff and latest.status.live):
            return False
        return after is None or latest.decision != after

    def apply(self, tracked: Tracked, decision: RolloutDecision, cutoff: datetime) -> None:
        tracked.decisions.append(decision)
        workflow = tracked.plan.workflow
        self.wait_for(f"the SDK to see {workflow} at {decision.next_step}% ({decision.status.value})",
                      partial(self._sees, workflow, decision.status, decision.next_step), 0.05)
        tracked.next_cutoff = cutoff + timedelta(minutes=tracked.plan.judge_every_minutes)
        if decision.decision in (RolloutDecisionKind.PROMOTE, RolloutDecisionKind.COMPLETE):
            tracked.step_start = decision.decided_at
            tracked.next_cutoff = decision.decided_at + timedelta(minutes=tracked.plan.hold_minutes)
        tracked.percent = decision.next_step
        tracked.live = decision.status.live
        label = {RolloutDecisionKind.ROLLBACK: "[red]rolled back[/]", RolloutDecisionKind.PROMOTE: "[green]promoted[/]",
                 RolloutDecisionKind.COMPLETE: "[green]complete[/]"}.get(decision.decision, decision.decision.value)
        self.say(f"  rollout-controller, {workflow} at {decision.step}%: {label} -> {decision.next_step}% "
                 f"({decision.status.value}): {decision.reason}")

    def after_incident(self) -> None:
        run_id = self.platform.seen.incident_run
        tenant = "globex"
        self.wait_for("the stop-ship kill switch to reach the SDK",
                      lambda: self.client.release_for(tenant, story.INCIDENT_WORKFLOW, "probe").fallback is not None)
        self.switch_on = True
        self.say(f"[red]stop-ship[/]: run {run_id} ({story.INCIDENT_WORKFLOW}, tenant {tenant}) tried to delete a "
                 f"customer record (denied); the policy-evaluator tripped the kill switch "
                 f"workflow:{story.INCIDENT_WORKFLOW}; its agents now take the fallback "
                 f"({self.client.release_for(tenant, story.INCIDENT_WORKFLOW, 'p')})")

    def revive(self) -> None:
        run_id = self.platform.seen.incident_run
        reason = (f"investigated by {story.ONCALL}: run {run_id} followed instructions in the ticket's text "
                  "(prompt injection) to delete the customer and export every record; the delete was denied "
                  "before it ran, the triage agent's tool filter now drops crm.delete_record")
        publish(self.settings, ControlKind.KILL, f"tool:{story.HELD_TOOL}", True, story.OPERATOR,
                f"after run {run_id}: {story.HELD_TOOL} stays off for every workflow until the triage agent's "
                "fix is reviewed")  # the blast radius narrowed to the tool before the workflow comes back
        publish(self.settings, ControlKind.KILL, f"workflow:{story.INCIDENT_WORKFLOW}", False, story.OPERATOR, reason)
        self.wait_for("the revive to reach the SDK",
                      lambda: self.client.release_for("globex", story.INCIDENT_WORKFLOW, "probe").fallback is None)
        time.sleep(1.5)  # the policy-evaluator polls the control topic before each batch: let it read the revive
        self.switch_on = False
        self.say(f"[green]revived[/] workflow:{story.INCIDENT_WORKFLOW} by {story.OPERATOR}: {reason}; the kill switch "
                 f"tool:{story.HELD_TOOL} stays on until the fix is reviewed")

    def final(self, minimum_events: int) -> None:
        """The last traffic: everything runs again; a short cost spike; as many events as --events asks."""
        if self.with_rollouts:
            events = self.platform.until(self.platform.clock + story.PHASE_3_MIN, story.PHASE_3,
                                         spike=story.SPIKE_RUNS)
        else:
            events = self.platform.until(None, story.PHASE_3, spike=story.SPIKE_RUNS, events=minimum_events // 4)
        missing = minimum_events - len(self.emitted) - len(events)
        if missing > 0:
            events += self.platform.until(None, story.PHASE_3, events=missing)
        self.emit(events)
        self.wait_decided()
        self.approver.work(self.say)

