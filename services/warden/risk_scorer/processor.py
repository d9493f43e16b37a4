"""The risk-scorer's pure step: (partition state, event or policy decision) -> (state, outputs).

State is kept per input partition (docs/decisions/0002): the run facts, the tenant+agent
usage history and the per-workflow thresholds of partition p see exactly partition p's events
in offset order, which is what `warden replay` reproduces by computing each event's partition
from its key. A call is scored, and its routing candidacy fixed, when its tool_call_requested
event is processed. A call below the threshold is final at once (its record cannot depend on
policy), so it is emitted immediately and the SDK gate does not wait on an extra hop; a call
above it is emitted once its policy decision is also known (before or after the event), since
only an allowed call goes to a human. So what is emitted never depends on how the two topics
interleave. An event that counts (a call, a call's outcome, a run's end) counts once by its
event_id, as the ledger lands it once: a client's re-send changes no usage, failure count or
threshold.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from warden.core import topics
from warden.core.events import AgentEvent, EventType, RunCompleted, ToolCallCompleted, ToolCallRequested
from warden.core.output import Output
from warden.core.partitioning import partition_for
from warden.core.records import Decision, PolicyDecision, RiskScore
from warden.core.seen import SeenIds
from warden.risk.config import RiskWeights
from warden.risk.factors import FAILED_STATUSES, RunFacts, Usage, call_factors, combine, explain, run_factors
from warden.risk.threshold import Threshold

ROUTING_POLICY = "warden:risk-routing"
_ROUTES = uuid.UUID("3c0b7f52-91e4-4a8d-b6f1-5d2e8a7c9e14")
COUNTED = frozenset({EventType.TOOL_CALL_REQUESTED, EventType.TOOL_CALL_COMPLETED, EventType.RUN_COMPLETED})


@dataclass(frozen=True)
class RiskConfig:
    weights: RiskWeights
    share: float  # of each workflow's calls routed to a human
    capacity: int = 100_000  # runs, usage keys, calls awaiting a decision: each bounded


def route_id(call_id: str) -> str:
    """Deterministic, and distinct from the policy decision's id for the same call."""
    return str(uuid.uuid5(_ROUTES, call_id))


def _bounded(table: OrderedDict[Any, Any], capacity: int) -> None:
    while len(table) > capacity:
        table.popitem(last=False)


@dataclass
class PartitionState:
    runs: OrderedDict[str, RunFacts] = field(default_factory=OrderedDict)
    usage: OrderedDict[str, Usage] = field(default_factory=OrderedDict)
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    pending: OrderedDict[str, RiskScore] = field(default_factory=OrderedDict)  # top-share calls awaiting policy
    emitted: OrderedDict[str, None] = field(default_factory=OrderedDict)  # final already; absorbs the decision
    early: OrderedDict[str, str] = field(default_factory=OrderedDict)  # call_id -> decision, no event yet
    seen: SeenIds = field(default_factory=SeenIds)  # event ids of COUNTED events

    def run(self, run_id: str, capacity: int) -> RunFacts:
        facts = self.runs.get(run_id)
        if facts is None:
            facts = self.runs[run_id] = RunFacts()
            _bounded(self.runs, capacity)
        else:
            self.runs.move_to_end(run_id)
        return facts

    def usage_of(self, key: str, capacity: int) -> Usage:
        usage = self.usage.get(key)
        if usage is None:
            usage = self.usage[key] = Usage()
            _bounded(self.usage, capacity)
        else:
            self.usage.move_to_end(key)
        return usage

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": {k: v.to_dict() for k, v in self.runs.items()},
            "usage": {k: v.to_list() for k, v in self.usage.items()},
            "thresholds": {k: v.to_list() for k, v in self.thresholds.items()},
            "pending": {k: v.model_dump(mode="json") for k, v in self.pending.items()},
            "emitted": list(self.emitted),
            "early": dict(self.early),
            "seen": self.seen.to_json(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartitionState:
        return cls(
            runs=OrderedDict((k, RunFacts.from_dict(v)) for k, v in data["runs"].items()),
            usage=OrderedDict((k, Usage.from_list(v)) for k, v in data["usage"].items()),
            thresholds={k: Threshold.from_list(v) for k, v in data["thresholds"].items()},
            pending=OrderedDict((k, RiskScore.model_validate(v)) for k, v in data["pending"].items()),
            emitted=OrderedDict.fromkeys(data["emitted"]),
            early=OrderedDict(data["early"]),
            seen=SeenIds.from_json(data.get("seen")),  # older snapshots: none remembered
        )


def step(state: PartitionState, config: RiskConfig, message: BaseModel) -> tuple[PartitionState, list[Output]]:
    if isinstance(message, PolicyDecision):
        return state, _decided(state, config, message.call_id, message.decision)
    if not isinstance(message, AgentEvent):
        return state, []
    event = message
    if event.event_type in COUNTED and not state.seen.first_time(event.event_id):
        return state, []  # a re-sent event: scored (and counted) when it first came
    weights = config.weights
    if event.event_type == EventType.TOOL_CALL_REQUESTED:
        assert isinstance(event.body, ToolCallRequested)
        return state, _call(state, config, event, event.body)
    if event.event_type == EventType.TOOL_CALL_COMPLETED:
        assert isinstance(event.body, ToolCallCompleted)
        facts = state.run(event.run_id, config.capacity)
        facts.steps = max(facts.steps, event.step)
        if event.body.status.value in FAILED_STATUSES:
            facts.failures += 1
        facts.see_text(weights, event.body.output)
        return state, []
    if event.event_type == EventType.RUN_COMPLETED:
        assert isinstance(event.body, RunCompleted)
        facts = state.runs.pop(event.run_id) if event.run_id in state.runs else RunFacts()
        factors = run_factors(weights, facts, max(facts.steps, event.step))
        score, contributions = combine(weights, factors)
        record = RiskScore(
            event_id=event.event_id, run_id=event.run_id, score=score, factors=factors, route_to_human=False,
            tenant_id=event.tenant_id, workflow=event.workflow, call_id=None, subject="run",
            contributions=contributions, threshold=None, weights_version=weights.version,
            scored_at=event.occurred_at,
            reason=f"run {event.body.status.value} after {facts.calls} call(s): {explain(contributions)}")
        return state, [Output(topics.RISK_SCORES, event.run_id, record)]
    facts = state.run(event.run_id, config.capacity)
    facts.steps = max(facts.steps, event.step)
    return state, []


def _call(state: PartitionState, config: RiskConfig, event: AgentEvent, body: ToolCallRequested) -> list[Output]:
    weights = config.weights
    action = f"{body.tool}.{body.action}"
    facts = state.run(event.run_id, config.capacity)
    facts.see_text(weights, body.params)  # PII in this call's own params counts
    usage = state.usage_of(f"{event.tenant_id}\x1f{event.agent_id}\x1f{action}", config.capacity)
    try:
        params = body.params_dict()
    except ValueError:
        params = {}
    factors, amount = call_factors(weights, action, params, event.step, usage, facts)
    usage.add(amount)
    facts.calls += 1
    facts.steps = max(facts.steps, event.step)
    for name, value in factors.items():
        if value > facts.peaks.get(name, 0.0):
            facts.peaks[name] = value
    score, contributions = combine(weights, factors)
    threshold = state.thresholds.get(event.workflow)
    if threshold is None:
        threshold = state.thresholds[event.workflow] = Threshold(weights.routing.initial_threshold)
    before = round(threshold.value, 6)
    top = threshold.observe(score, config.share, weights.routing.step, weights.routing.warmup)
    record = RiskScore(
        event_id=event.event_id, run_id=event.run_id, score=score, factors=factors, route_to_human=top,
        tenant_id=event.tenant_id, workflow=event.workflow, call_id=body.call_id, subject="tool_call",
        contributions=contributions, threshold=before, weights_version=weights.version,
        scored_at=event.occurred_at,
        reason=f"{action} score {score:.3f} {'above' if top else 'at or below'} the {event.workflow} threshold "
               f"{before:.3f} (top {config.share:.1%}): {explain(contributions)}")
    decision = state.early.pop(body.call_id, None)
    if decision is not None:
        return _final(config, record, Decision(decision))
    if not top:
        state.emitted[body.call_id] = None
        _bounded(state.emitted, config.capacity)
        return [Output(topics.RISK_SCORES, event.run_id, record)]
    state.pending[body.call_id] = record
    _bounded(state.pending, config.capacity)
    return []


def _decided(state: PartitionState, config: RiskConfig, call_id: str, decision: Decision) -> list[Output]:
    if call_id in state.emitted:
        del state.emitted[call_id]
        return []
    record = state.pending.pop(call_id, None)
    if record is None:
        state.early[call_id] = decision.value
        _bounded(state.early, config.capacity)
        return []
    return _final(config, record, decision)


def _final(config: RiskConfig, candidate: RiskScore, decision: Decision) -> list[Output]:
    """The call's RiskScore now that policy has spoken; a routed call also gets an approval request."""
    if not candidate.route_to_human:
        return [Output(topics.RISK_SCORES, candidate.run_id, candidate)]
    if decision != Decision.ALLOW:
        why = ("policy denied it" if decision == Decision.DENY
               else "policy already sends it to a human")
        record = candidate.model_copy(update={"route_to_human": False,
                                              "reason": f"{candidate.reason}; not routed: {why}"})
        return [Output(topics.RISK_SCORES, candidate.run_id, record)]
    record = candidate.model_copy(update={"reason": f"{candidate.reason}; routed to a human"})
    assert candidate.call_id is not None and candidate.scored_at is not None
    request = PolicyDecision(
        decision_id=route_id(candidate.call_id), event_id=candidate.event_id, call_id=candidate.call_id,
        run_id=candidate.run_id, tenant_id=candidate.tenant_id, decided_at=candidate.scored_at,
        decision=Decision.REQUIRE_APPROVAL, policy_ids=[ROUTING_POLICY],
        reason=f"risk score {candidate.score:.3f} is in the top {config.share:.1%} of {candidate.workflow} "
               f"(threshold {candidate.threshold:.3f}): {explain(candidate.contributions)}; "
               "a human approves or rejects",
        policy_version=f"risk:{candidate.weights_version}")
    return [Output(topics.RISK_SCORES, candidate.run_id, record),
            Output(topics.APPROVAL_REQUESTS, candidate.run_id, request)]



@dataclass
class KeyedRisk:
    """Every partition's state in one process, each message routed by its key as the producers route it.

    What `warden replay` and the benchmarks run: the same ``step`` per partition as the live
    service, with the partition computed from ``run_id`` by the producers' partitioner.
    """

    config: RiskConfig
    partitions: int
    states: dict[int, PartitionState] = field(default_factory=dict)

    def feed(self, message: AgentEvent | PolicyDecision) -> list[Output]:
        partition = partition_for(message.run_id, self.partitions)
        state = self.states.get(partition)
        if state is None:
            state = self.states[partition] = PartitionState()
        _, outputs = step(state, self.config, message)
        return outputs
