"""Operating rollouts from outside the controller (CLI, HTTP): where each stands, its last decisions, and
commands that the controller applies and acknowledges on the control topic.

A command is refused here when it cannot apply (a second live rollout of a workflow, a promote with no
live rollout), so an operator hears why at once; the controller checks again, in topic order, and a
command it applied shows in the stage's command_ids, which is what `send` waits for.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from warden.core import topics
from warden.core.errors import BrokerUnavailableError, ConfigError, DecodeError, ValidationError, WardenError
from warden.core.events import iso_millis
from warden.core.records import (
    RolloutAction,
    RolloutCommand,
    RolloutDecision,
    RolloutDecisionKind,
    RolloutStage,
    RolloutStatus,
)
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.kafka import clients
from warden.kafka.configs import Fetch
from warden.kafka.consume import drain
from warden.kafka.control import ControlView, publish_control
from warden.ledger import access
from warden.rollout.controller import COMMAND_KEY, command_record
from warden.rollout.evidence import EvalMissing, Query, require_passing_eval
from warden.rollout.gates import GATE_KEYS
from warden.rollout.plan import RolloutPlan


def ledger_query(settings: WardenSettings) -> Query:
    """The ledger wherever it lives (warden.ledger.access: through a running stack, or the ledger itself)."""
    def query(sql: str) -> tuple[list[str], list[list[Any]]]:
        columns, rows = access.query(settings, sql)
        return columns, [list(r) for r in rows]
    return query


def gate_verdict(stage: RolloutStage, judged: RolloutDecision | None) -> str:
    """fail once rolled back; pass once complete, or when the last judgment at the current step passed every
    gate (a promotion waiting for approval); wait otherwise (not judged yet at this step, or inconclusive)."""
    if stage.status == RolloutStatus.ROLLED_BACK:
        return "fail"
    if stage.status == RolloutStatus.COMPLETED:
        return "pass"
    passed = judged is not None and judged.step == stage.percent and not judged.failed_gates \
        and judged.candidate_completed >= _min_runs(stage) and all(
            f.verdict == "pass" for f in judged.metrics.values() if f.bound)
    return "pass" if passed else "wait"


def _min_runs(stage: RolloutStage) -> float:
    """The plan's min_runs: a hold for too few runs carries gate figures too, and with little spread they can
    all pass (three runs of equal cost give a cost interval of width 0), so the gate said pass, and Flagger's
    confirm-promotion a 200, while the controller itself held. An unreadable plan judges nothing: never pass."""
    try:
        return RolloutPlan.from_json(stage.plan).min_runs  # as the controller reads the stage's plan
    except ConfigError:
        return math.inf


def _overtaken(command: RolloutCommand, before: RolloutStage | None, stage: RolloutStage) -> str | None:
    """Why the controller will never apply ``command``, from a stage that does not list it; None while it may.

    The controller applies commands in topic order and lists each one it applied in the stage (its ids carry
    over to every later stage of the rollout). So a stage of the targeted rollout that is no longer live and
    does not list the command means another command or a gate ended the rollout first (a rollback racing a
    promotion): the controller drops this one, and waiting for it only ended in a 504 that asked whether the
    controller was running. Likewise a start overtaken by another live rollout of the workflow."""
    if command.action == RolloutAction.START:
        if stage.status.live and stage.rollout_id != command.command_id \
                and (before is None or stage.rollout_id != before.rollout_id):
            return (f"another rollout of {stage.workflow} started first ({stage.baseline} -> {stage.candidate} "
                    f"at {stage.percent}%, {stage.status.value})")
        return None
    if stage.rollout_id != command.rollout_id:
        return f"rollout {command.rollout_id} was replaced by rollout {stage.rollout_id}"
    if not stage.status.live:
        return f"the rollout became {stage.status.value} at {stage.percent}% before this command was read"
    return None


class RolloutError(WardenError):
    """A rollout command that cannot be applied as asked; `status` is the HTTP status that says why."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class DecisionLog:
    """rollout.decisions followed from the beginning: the last decision and the last judgment per workflow."""

    def __init__(self, settings: WardenSettings) -> None:
        self._wire = wire_for(settings)
        self.latest: dict[str, RolloutDecision] = {}
        self.judged: dict[str, RolloutDecision] = {}  # the last decision that carried gate figures
        # The last decision that changed the stage (not a hold that left it as it was): whose rationale an
        # operator's --reason is, which the holds after it must not hide.
        self.changed: dict[str, RolloutDecision] = {}
        self.caught_up = threading.Event()
        self._consumer = clients.reader(settings, "warden-rollout-decisions-view",
                                        Fetch(wait_ms=None, partition_eof=True))
        topic = settings.topic(topics.ROLLOUT_DECISIONS)
        try:
            partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        except (KafkaException, KeyError) as exc:
            raise BrokerUnavailableError(f"cannot read topic {topic} at {settings.bootstrap_servers}") from exc
        self._pending = set(partitions)
        self._consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="warden-rollout-decisions", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            for msg in drain(self._consumer, 500, 0.1):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        self._pending.discard(msg.partition() or 0)
                        if not self._pending:
                            self.caught_up.set()
                    continue
                try:
                    record = self._wire.decode(msg.value(), "warden.RolloutDecision")
                except (DecodeError, ValidationError):
                    continue
                assert isinstance(record, RolloutDecision)
                before = self.latest.get(record.workflow)
                if record.decision != RolloutDecisionKind.HOLD or before is None \
                        or before.rollout_id != record.rollout_id or before.status != record.status:
                    self.changed[record.workflow] = record
                self.latest[record.workflow] = record
                if record.metrics:
                    self.judged[record.workflow] = record

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


class Rollouts:
    """The control view (stages) and the decision log, kept current in the background."""

    def __init__(self, settings: WardenSettings) -> None:
        self.settings = settings
        self.control = ControlView(settings)
        self.decisions = DecisionLog(settings)

    def wait_ready(self, timeout_s: float = 15.0) -> None:
        if not (self.control.caught_up.wait(timeout_s) and self.decisions.caught_up.wait(timeout_s)):
            raise BrokerUnavailableError(f"the control and rollout.decisions topics at "
                                         f"{self.settings.bootstrap_servers} were not read within {timeout_s:g} s")

    def stage(self, workflow: str) -> RolloutStage | None:
        return self.control.rollouts.get(workflow)

    def workflows(self) -> list[str]:
        return sorted(self.control.rollouts.stages)

    def send(self, action: RolloutAction, workflow: str, actor: str, rationale: str,
             plan: RolloutPlan | None = None, wait_s: float = 15.0, command_id: str | None = None) -> RolloutStage:
        """Publish the command and wait until the controller's stage record shows it applied. ``command_id``
        (default: a fresh uuid4) becomes the rollout's id on a start: the demo names its own, so it repeats."""
        if not actor.strip():
            raise RolloutError("a named actor is required", 422)
        if not rationale.strip():
            raise RolloutError("a reason is required: it is recorded with the decision", 422)
        self.wait_ready()
        current = self.stage(workflow)
        if action == RolloutAction.START:
            if plan is None:
                raise RolloutError("start needs a plan", 422)
            if current is not None and current.status.live:
                raise RolloutError(f"workflow {workflow} already has a live rollout ({current.baseline} -> "
                                   f"{current.candidate} at {current.percent}%, {current.status.value}); roll it back "
                                   "or let it complete first", 409)
        elif current is None or not current.status.live:
            state = "no rollout" if current is None else f"its last rollout is {current.status.value}"
            raise RolloutError(f"workflow {workflow} has no live rollout to {action.value} ({state})", 409)
        elif (action == RolloutAction.PAUSE) == (current.status == RolloutStatus.PAUSED) \
                and action in (RolloutAction.PAUSE, RolloutAction.RESUME):
            # the controller applies either as nothing and writes no stage listing it: the wait ended in a 504
            raise RolloutError(f"the rollout of {workflow} is {current.status.value} at {current.percent}%: nothing "
                               f"to {action.value}", 409)
        eval_run_id = None
        if action == RolloutAction.START and plan is not None and plan.require_eval:
            try:
                eval_run_id = require_passing_eval(ledger_query(self.settings), plan, datetime.now(UTC),
                                                   self.settings.clickhouse_database).eval_run_id
            except EvalMissing as exc:
                raise RolloutError(f"rollout of {workflow} not started: {exc}", 409) from exc
        command = RolloutCommand(command_id=command_id or str(uuid.uuid4()), action=action, workflow=workflow,
                                 rollout_id=None if current is None or action == RolloutAction.START
                                 else current.rollout_id,
                                 plan=plan.to_json() if plan else None, rationale=rationale.strip(),
                                 eval_run_id=eval_run_id)
        publish_control(self.settings, command_record(command, actor, datetime.now(UTC)),
                        COMMAND_KEY.format(command_id=command.command_id), f"rollout {action.value} of {workflow}")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            stage = self.stage(workflow)
            if stage is not None and command.command_id in stage.command_ids:
                return stage
            if stage is not None and (overtaken := _overtaken(command, current, stage)) is not None:
                raise RolloutError(f"the rollout {action.value} of {workflow} was not applied: {overtaken}", 409)
            time.sleep(0.05)
        raise RolloutError(f"the rollout {action.value} of {workflow} was published (command {command.command_id}) "
                           f"but no rollout-controller applied it within {wait_s:g} s: is it running?", 504)

    def gate(self, workflow: str) -> dict[str, Any]:
        """The verdict an external delivery tool reads (README "Rollouts": the gate endpoint)."""
        stage = self.stage(workflow)
        if stage is None:
            raise RolloutError(f"workflow {workflow} has no rollout", 404)
        judged = self.decisions.judged.get(workflow)
        if judged is not None and judged.rollout_id != stage.rollout_id:
            judged = None
        verdict = gate_verdict(stage, judged)
        latest = self.decisions.latest.get(workflow)
        changed_at = self.control.rollouts.changed_at.get(workflow)
        # The decision that made this stage, once the decision log has it (the two topics are followed apart)
        change = self.decisions.changed.get(workflow)
        if change is not None and (change.rollout_id, change.status, change.next_step) != (
                stage.rollout_id, stage.status, stage.percent):
            change = None
        return {
            "workflow": workflow, "rollout_id": stage.rollout_id, "baseline": stage.baseline,
            "candidate": stage.candidate, "percent": stage.percent, "status": stage.status.value,
            "changed_at": iso_millis(changed_at or stage.step_started_at),
            "verdict": verdict, "ok": verdict == "pass",
            "decision": latest.decision.value if latest and latest.rollout_id == stage.rollout_id else None,
            "reason": latest.reason if latest and latest.rollout_id == stage.rollout_id else "",
            "change": None if change is None else {
                "decision": change.decision.value, "decided_at": iso_millis(change.decided_at),
                "commanded_at": iso_millis(change.commanded_at) if change.commanded_at else None,
                "actor": change.actor, "rationale": change.rationale, "reason": change.reason},
            "metrics": {name: {"value": f.value, "interval": [f.low, f.high], "runs": f.runs, "target": f.target,
                               "verdict": f.verdict} for name, f in (judged.metrics.items() if judged else ())
                        if name in {metric for metric, _ in GATE_KEYS.values()}},
        }

    def close(self) -> None:
        self.control.close()
        self.decisions.close()
