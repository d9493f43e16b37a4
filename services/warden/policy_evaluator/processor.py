"""The evaluator's pure step: (state, event or control record) -> (state, outputs).

State is the per-run facts policies see (spend so far, denials so far) and the active
switches. A stop-ship deny sets the workflow's kill switch in the state at once (and emits
it for the control topic), so the live service and `warden replay` block the same calls.
The switch reaches the whole workflow or only the tripping tenant's runs of it, as the workflow's
stop_ship_scope says; a run of a release under rollout as the candidate sets no switch at all: the
rollout-controller rolls the candidate back instead, and the baseline keeps running.

An event it reads counts once by its event_id (as the ledger lands it once): a client's re-send
adds no spend or denial to its run and is not decided again (the first decision stands).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from warden.core import topics
from warden.core.errors import StateError
from warden.core.events import AgentEvent, EventType, LlmCall, RunStarted, ToolCallRequested
from warden.core.output import Output
from warden.core.records import Control, ControlKind, Decision, PolicyDecision
from warden.core.rollout_book import RolloutBook
from warden.core.seen import SeenIds
from warden.core.switches import STOP_SHIP_ACTOR, Switches, stop_ship_scope
from warden.policy.bundle import Bundle
from warden.policy.engine import PolicyRequest, evaluate

# The event types step acts on; the shell skips the rest before validating them (a third of the
# traffic). tests/policy_evaluator/test_processor.py checks every other type leaves the state alone.
READS: frozenset[str] = frozenset({EventType.LLM_CALL.value, EventType.RUN_COMPLETED.value,
                                   EventType.TOOL_CALL_REQUESTED.value, EventType.RUN_STARTED.value})

_DECISIONS = uuid.UUID("6f1c2a4e-3b7d-4d0e-9a51-0c8b7e2f4a10")


@dataclass
class RunFacts:
    spend_usd: float = 0.0
    denials: int = 0
    candidate: bool = False  # a run of the candidate release of a live rollout of its workflow


@dataclass
class EvaluatorState:
    capacity: int = 100_000
    runs: OrderedDict[str, RunFacts] = field(default_factory=OrderedDict)
    switches: Switches = field(default_factory=Switches)
    seen: SeenIds = field(default_factory=lambda: SeenIds(100_000))  # ids of READS events, all partitions
    rollouts: RolloutBook = field(default_factory=RolloutBook)

    def to_json(self) -> dict[str, Any]:
        """The run facts and the ids counted; switches and rollout stages are the control topic's, which
        a restored state reads again."""
        return {"runs": [[run_id, f.spend_usd, f.denials, f.candidate] for run_id, f in self.runs.items()],
                "seen": self.seen.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any], capacity: int) -> EvaluatorState:
        try:
            runs = OrderedDict((str(r), RunFacts(float(s), int(d), bool(c))) for r, s, d, c in data["runs"])
            return cls(capacity, runs, seen=SeenIds.from_json(data["seen"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"an evaluator checkpoint is missing or has a malformed field: {exc!r}") from exc

    def run(self, run_id: str) -> RunFacts:
        facts = self.runs.get(run_id)
        if facts is None:
            facts = self.runs[run_id] = RunFacts()
            while len(self.runs) > self.capacity:
                self.runs.popitem(last=False)
        else:
            self.runs.move_to_end(run_id)
        return facts


def decision_id(event_id: str) -> str:
    """Deterministic, so a replayed event yields the same decision record (the ledger dedupes by it)."""
    return str(uuid.uuid5(_DECISIONS, event_id))


def step(state: EvaluatorState, bundle: Bundle, message: BaseModel) -> tuple[EvaluatorState, list[Output]]:
    if isinstance(message, Control):
        state.switches.apply(message)
        state.rollouts.apply(message)
        return state, []
    if not isinstance(message, AgentEvent):
        return state, []
    event = message
    if event.event_type.value in READS and not state.seen.first_time(event.event_id):
        return state, []
    if isinstance(event.body, RunStarted):
        stage = state.rollouts.get(event.workflow)
        # a candidate run only from the step's start on: the rollout-controller tracks (and rolls back for) no
        # run that started before it (a plan's start_at ahead of the clock), so setting no switch for one lost
        # its stop-ship altogether
        if stage is not None and stage.status.live and event.body.release_name == stage.candidate \
                and event.occurred_at >= stage.step_started_at:
            state.run(event.run_id).candidate = True
        return state, []
    if event.event_type == EventType.LLM_CALL:
        assert isinstance(event.body, LlmCall)
        if event.body.cost_usd is not None:
            state.run(event.run_id).spend_usd += event.body.cost_usd
        return state, []
    if event.event_type == EventType.RUN_COMPLETED:
        state.runs.pop(event.run_id, None)
        return state, []
    if event.event_type != EventType.TOOL_CALL_REQUESTED:
        return state, []
    body = event.body
    assert isinstance(body, ToolCallRequested)
    facts = state.run(event.run_id)
    verdict = evaluate(bundle, PolicyRequest(
        tenant_id=event.tenant_id, workflow=event.workflow, agent_id=event.agent_id, tool=body.tool,
        action=body.action, resource=body.resource, params=body.params_exact(), step=event.step,
        spend_usd=facts.spend_usd, denials=facts.denials, at=event.occurred_at,
    ), state.switches)
    decision = PolicyDecision(
        decision_id=decision_id(event.event_id), event_id=event.event_id, call_id=body.call_id,
        run_id=event.run_id, tenant_id=event.tenant_id, decided_at=event.occurred_at,
        decision=verdict.decision, policy_ids=list(verdict.policy_ids), reason=verdict.reason,
        policy_version=bundle.version, stop_ship=verdict.stop_ship,
    )
    outputs = [Output(topics.POLICY_DECISIONS, event.run_id, decision)]
    if verdict.decision == Decision.DENY:
        facts.denials += 1
    elif verdict.decision == Decision.REQUIRE_APPROVAL:
        outputs.append(Output(topics.APPROVAL_REQUESTS, event.run_id, decision))
    stage = state.rollouts.get(event.workflow)
    if verdict.stop_ship and not (facts.candidate and stage is not None and stage.status.live):
        scope = stop_ship_scope(bundle.workflow(event.workflow).stop_ship_scope, event.tenant_id, event.workflow)
        switch = Control(kind=ControlKind.KILL, scope=scope, active=True,
                         actor=STOP_SHIP_ACTOR, at=event.occurred_at,
                         reason=f"stop-ship: {verdict.reason}; tenant {event.tenant_id}, run {event.run_id}, "
                                f"event {event.event_id}")
        if switch.key not in state.switches.active:
            state.switches.apply(switch)
            outputs.append(Output(topics.CONTROL, switch.key, switch))
    return state, outputs
