"""The risk-scorer's pure step: scores on every call and run, routing after policy, deterministic state."""

from __future__ import annotations

import json
import random
from datetime import timedelta

from tests.core.samples import AT, event
from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.output import Output
from warden.core.partitioning import partition_for
from warden.core.records import Decision, PolicyDecision, RiskScore
from warden.policy_evaluator.processor import decision_id
from warden.risk.config import load_weights
from warden.risk.threshold import Threshold
from warden.risk_scorer.processor import (
    ROUTING_POLICY,
    KeyedRisk,
    PartitionState,
    RiskConfig,
    route_id,
    step,
)

CONFIG = RiskConfig(load_weights(), 0.075)


def call(tool_action: str, params: dict[str, object], call_id: str, run_id: str = "run-1", step_no: int = 2,
         workflow: str = "refund_ticket", agent: str = "agent-1") -> AgentEvent:
    tool, action = tool_action.split(".")
    return event("tool_call_requested", workflow=workflow, run_id=run_id, agent_id=agent, step=step_no,
                 occurred_at=AT + timedelta(seconds=step_no),
                 body={"call_id": call_id, "tool": tool, "action": action, "resource": None,
                       "params": json.dumps(params)})


def completed(call_id: str, status: str, run_id: str = "run-1", step_no: int = 3,
              output: str | None = None) -> AgentEvent:
    return event("tool_call_completed", run_id=run_id, step=step_no, occurred_at=AT + timedelta(seconds=step_no),
                 body={"call_id": call_id, "tool": "payments", "status": status, "error_code": None,
                       "latency_ms": 10.0, "output": output})


def decided(e: AgentEvent, decision: Decision) -> PolicyDecision:
    body = e.body
    assert hasattr(body, "call_id")
    return PolicyDecision(decision_id=decision_id(e.event_id), event_id=e.event_id, call_id=body.call_id,
                          run_id=e.run_id, tenant_id=e.tenant_id, decided_at=e.occurred_at, decision=decision,
                          policy_ids=["p"], reason="r", policy_version="v")


def scores(outputs: list[Output]) -> list[RiskScore]:
    return [o.record for o in outputs if isinstance(o.record, RiskScore)]


def hot(state: PartitionState) -> PartitionState:
    """A threshold already low, so the next risky call is in the top share."""
    state.thresholds["refund_ticket"] = Threshold(0.1)
    return state


def test_a_call_below_the_threshold_is_final_at_once_and_its_decision_changes_nothing() -> None:
    e = call("crm.lookup", {"customer_id": "c"}, "c1")
    state, first = step(PartitionState(), CONFIG, e)
    [score] = scores(first)  # no wait for policy: the SDK gate gets it as early as the decision
    assert step(state, CONFIG, decided(e, Decision.ALLOW))[1] == []
    assert state.emitted == {} and state.early == {}  # the decision was absorbed, nothing left behind
    state2, early = step(PartitionState(), CONFIG, decided(e, Decision.DENY))
    assert early == [] and step(state2, CONFIG, e)[1] == first  # decision first: the same record
    assert (score.event_id, score.call_id, score.subject, score.workflow) == (e.event_id, "c1", "tool_call",
                                                                              "refund_ticket")
    assert score.weights_version == CONFIG.weights.version and score.scored_at == e.occurred_at
    assert set(score.factors) == set(score.contributions)
    assert abs(sum(score.contributions.values()) - score.score) < 1e-5
    assert score.threshold == CONFIG.weights.routing.initial_threshold and not score.route_to_human


def test_a_top_share_call_waits_for_its_decision_whichever_comes_first() -> None:
    e = call("payments.refund", {"order_id": "o", "amount_usd": 95}, "c8")
    state, first = step(hot(PartitionState()), CONFIG, e)
    assert first == []  # only an allowed call goes to a human: wait for policy
    _, after = step(state, CONFIG, decided(e, Decision.ALLOW))
    state2, early = step(hot(PartitionState()), CONFIG, decided(e, Decision.ALLOW))
    _, joined = step(state2, CONFIG, e)
    assert early == [] and after == joined and len(after) == 2


def test_a_top_share_call_that_policy_allows_goes_to_a_human() -> None:
    e = call("payments.refund", {"order_id": "o", "amount_usd": 95}, "c9")
    state, _ = step(hot(PartitionState()), CONFIG, e)
    _, outputs = step(state, CONFIG, decided(e, Decision.ALLOW))
    assert [o.topic for o in outputs] == [topics.RISK_SCORES, topics.APPROVAL_REQUESTS]
    [score] = scores(outputs)
    request = outputs[1].record
    assert score.route_to_human and "routed to a human" in score.reason
    assert isinstance(request, PolicyDecision)
    assert request.decision == Decision.REQUIRE_APPROVAL and request.policy_ids == [ROUTING_POLICY]
    assert request.decision_id == route_id("c9") != decision_id(e.event_id)
    assert (request.call_id, request.event_id, request.run_id) == ("c9", e.event_id, "run-1")
    assert f"risk score {score.score:.3f}" in request.reason and "threshold 0.100" in request.reason
    assert request.policy_version == f"risk:{CONFIG.weights.version}"


def test_policy_denied_or_already_approval_bound_calls_are_not_sent_to_humans_by_risk() -> None:
    for decision, why in ((Decision.DENY, "policy denied it"),
                          (Decision.REQUIRE_APPROVAL, "policy already sends it to a human")):
        e = call("payments.refund", {"order_id": "o", "amount_usd": 250}, f"c-{decision}")
        state, _ = step(hot(PartitionState()), CONFIG, e)
        _, outputs = step(state, CONFIG, decided(e, decision))
        [score] = scores(outputs)
        assert [o.topic for o in outputs] == [topics.RISK_SCORES]
        assert not score.route_to_human and why in score.reason


def test_earlier_failures_and_pii_in_the_run_raise_the_next_calls_score() -> None:
    quiet = PartitionState()
    noisy = PartitionState()
    step(noisy, CONFIG, completed("x1", "error", step_no=2))
    step(noisy, CONFIG, completed("x2", "denied", step_no=3, output=json.dumps({"card": "4111 1111 1111 1111"})))
    e = call("crm.lookup", {"customer_id": "c"}, "c2", step_no=4)
    results = []
    for state in (quiet, noisy):
        _, outputs = step(state, CONFIG, e)
        outputs += step(state, CONFIG, decided(e, Decision.ALLOW))[1]
        results.append(scores(outputs)[0])
    assert results[1].factors["prior_failures"] == 0.5 and results[1].factors["pii"] == 1.0
    assert results[1].score > results[0].score


def test_every_run_gets_a_score_when_it_completes() -> None:
    state = PartitionState()
    step(state, CONFIG, completed("x1", "error", step_no=2))
    e = call("payments.refund", {"order_id": "o", "amount_usd": 400}, "c3", step_no=3)
    step(state, CONFIG, e)
    done = event("run_completed", run_id="run-1", step=5, body={"status": "failed", "state_change": None})
    state, outputs = step(state, CONFIG, done)
    [run] = scores(outputs)
    assert (run.subject, run.event_id, run.call_id, run.route_to_human) == ("run", done.event_id, None, False)
    assert run.factors["sensitivity"] == 0.8 and run.factors["external"] == 1.0
    assert run.factors["prior_failures"] > 0 and "run failed after 1 call(s)" in run.reason
    assert "run-1" not in state.runs  # the run's facts are dropped with it


def test_a_restored_snapshot_continues_exactly_like_an_uninterrupted_state() -> None:
    events = synthetic(600, seed=4)
    straight = PartitionState()
    expected = [out for m in events for out in step(straight, CONFIG, m)[1]]
    state = PartitionState()
    got = [out for m in events[:317] for out in step(state, CONFIG, m)[1]]
    state = PartitionState.from_dict(json.loads(json.dumps(state.to_dict())))
    got += [out for m in events[317:] for out in step(state, CONFIG, m)[1]]
    assert got == expected
    assert state.to_dict() == straight.to_dict()


def test_partition_interleaving_does_not_change_any_output() -> None:
    """Live, a consumer sees partitions interleaved in any order; each partition's own order is fixed."""
    events = synthetic(3000, seed=9)
    keyed = KeyedRisk(CONFIG, 6)
    in_order = sorted(o.record.model_dump_json() for m in events for o in keyed.feed(m))
    lanes: dict[int, list[AgentEvent | PolicyDecision]] = {}
    for m in events:
        lanes.setdefault(partition_for(m.run_id, 6), []).append(m)
    rng = random.Random(1)
    shuffled = KeyedRisk(CONFIG, 6)
    out = []
    while any(lanes.values()):
        lane = rng.choice([k for k, v in lanes.items() if v])
        out += [o.record.model_dump_json() for o in shuffled.feed(lanes[lane].pop(0))]
    assert sorted(out) == in_order
    assert sum('"route_to_human":true' in r for r in out) > 0


def synthetic(runs: int, seed: int) -> list[AgentEvent | PolicyDecision]:
    """Interleaved runs of refunds and e-mails with their decisions, some decisions before the event."""
    rng = random.Random(seed)
    out: list[AgentEvent | PolicyDecision] = []
    for r in range(runs):
        run_id = f"r{seed}-{r}"
        for s in range(2, 2 + rng.randint(1, 3)):
            action = rng.choice(["payments.refund", "email.send", "crm.lookup"])
            params: dict[str, object] = {"amount_usd": round(rng.expovariate(1 / 60), 2)} \
                if action == "payments.refund" else {"to": rng.choice(["a@acme.com", "b@gmail.com"])}
            e = call(action, params, f"{run_id}-{s}", run_id=run_id, step_no=s, agent=f"agent-{r % 4}")
            d = decided(e, rng.choices([Decision.ALLOW, Decision.DENY, Decision.REQUIRE_APPROVAL], [8, 1, 1])[0])
            out += [d, e] if rng.random() < 0.3 else [e, d]
            if rng.random() < 0.2:
                out.append(completed(f"{run_id}-{s}", "error", run_id=run_id, step_no=s))
    return out


def test_through_the_processor_a_drifting_stream_keeps_5_to_10_percent_routed_in_every_5000_calls() -> None:
    """50,000 calls over 6 partitions; amounts, recipients and failures drift so scores climb and spread."""
    rng = random.Random(21)
    keyed = KeyedRisk(CONFIG, 6)
    routed: list[bool] = []
    total = 50_000
    r = 0
    while len(routed) < total:
        drift = len(routed) / total
        run_id = f"d-{r}"
        r += 1
        agent = f"agent-{rng.randint(1, 12)}"
        for s in range(2, 2 + rng.randint(1, 4)):
            action = rng.choices(["payments.refund", "email.send", "crm.lookup"], [1 + 3 * drift, 1, 2 - drift])[0]
            if action == "payments.refund":
                amount = round(rng.expovariate(1 / (20 + 600 * drift)), 2)
                params: dict[str, object] = {"order_id": "o", "amount_usd": amount}
            elif action == "email.send":
                params = {"to": "x@gmail.com" if rng.random() < drift else "x@acme.com"}
            else:
                params = {"customer_id": "c"}
            step_no = s * (1 + int(10 * drift))
            e = call(action, params, f"{run_id}-{s}", run_id=run_id, step_no=step_no, agent=agent)
            [score] = scores(keyed.feed(e) + keyed.feed(decided(e, Decision.ALLOW)))
            routed.append(score.route_to_human)
            if rng.random() < 0.1 * drift:
                keyed.feed(completed(f"{run_id}-{s}", "error", run_id=run_id, step_no=step_no + 1))
    routed = routed[:total]
    shares = [sum(routed[i:i + 5000]) / 5000 for i in range(0, total - 5000 + 1, 500)]
    assert all(0.05 <= share <= 0.10 for share in shares), (min(shares), max(shares))


def test_an_event_a_client_sends_again_counts_once() -> None:
    """A re-sent failure does not raise prior_failures; a re-sent call is not scored (or counted) again."""
    once, twice = PartitionState(), PartitionState()
    failure = completed("x1", "error", step_no=2)
    step(once, CONFIG, failure)
    for _ in range(2):
        step(twice, CONFIG, failure)
    e = call("crm.lookup", {"customer_id": "c"}, "c2", step_no=4)
    results = []
    for state in (once, twice):
        _, outputs = step(state, CONFIG, e)
        outputs += step(state, CONFIG, decided(e, Decision.ALLOW))[1]
        results.append(scores(outputs)[0])
    assert results[1] == results[0]
    assert step(twice, CONFIG, e)[1] == []
    assert twice.runs["run-1"].calls == 1
    restored = PartitionState.from_dict(json.loads(json.dumps(twice.to_dict())))
    assert step(restored, CONFIG, e)[1] == [], "a restored snapshot still knows the call"
    older = {k: v for k, v in twice.to_dict().items() if k != "seen"}
    assert len(PartitionState.from_dict(older).seen) == 0
