"""The live risk-scorer on the real broker: the same scores and routing as `warden replay`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient

from tests.ledger_sink.helpers import produce, simulated, wait_for
from tests.risk_scorer.helpers import TopicReader, offline_decisions, policies_without_stop_ship, produce_decisions
from tests.running import in_thread
from warden.core.partitioning import partition_for
from warden.core.records import Decision, PolicyDecision, RiskScore
from warden.core.settings import WardenSettings
from warden.core.topics import AGENT_EVENTS, APPROVAL_REQUESTS, POLICY_DECISIONS, RISK_SCORES
from warden.kafka import clients
from warden.policy.bundle import DEFAULT_POLICIES
from warden.policy_evaluator.service import PolicyEvaluator
from warden.policy_evaluator.settings import PolicyEvaluatorSettings
from warden.replay.runner import replay
from warden.risk_scorer.processor import ROUTING_POLICY
from warden.risk_scorer.service import RiskScorer
from warden.risk_scorer.settings import RiskScorerSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    return policies_without_stop_ship(tmp_path)


@pytest.fixture
def live(topics: WardenSettings, policies: Path) -> Iterator[tuple[PolicyEvaluator, RiskScorer]]:
    base = topics.model_dump()
    evaluator = PolicyEvaluator(PolicyEvaluatorSettings(**{**base, "group_id": f"pe-{uuid.uuid4().hex[:8]}",
                                                           "policies_dir": policies})).start()
    scorer = RiskScorer(RiskScorerSettings(**{**base, "group_id": f"rs-{uuid.uuid4().hex[:8]}"})).start()
    with in_thread(evaluator) as e, in_thread(scorer) as s:
        yield e, s


def test_live_scores_and_routing_equal_replay(topics: WardenSettings, live: tuple[PolicyEvaluator, RiskScorer],
                                              policies: Path, tmp_path: Path) -> None:
    events = simulated(4000, f"parity-{uuid.uuid4().hex[:6]}")
    assert len({partition_for(e.run_id, 6) for e in events}) == 6  # every partition in play
    path = tmp_path / "events.jsonl"
    path.write_text("".join(e.model_dump_json() + "\n" for e in events))
    expected = sum(1 for e in events if e.event_type in ("tool_call_requested", "run_completed"))
    scores = TopicReader(topics, RISK_SCORES, "warden.RiskScore")
    requests = TopicReader(topics, APPROVAL_REQUESTS, "warden.PolicyDecision")
    produce(topics, events)
    try:
        wait_for(lambda: len({s.event_id for s in scores.seen}) >= expected,
                 timeout_s=120, step=scores.read, what=f"{expected} risk scores")
        routed_scores = {s.call_id for s in scores.seen if isinstance(s, RiskScore) and s.route_to_human}
        wait_for(lambda: len({r.call_id for r in requests.seen
                              if r.policy_ids == [ROUTING_POLICY]}) >= len(routed_scores),
                 step=requests.read, what=f"{len(routed_scores)} routed approval requests")
        routed_live = {r.call_id: r for r in requests.seen
                       if isinstance(r, PolicyDecision) and r.policy_ids == [ROUTING_POLICY]}
    finally:
        scores.close()
        requests.close()
    result = replay(path, tmp_path / "out", policies)
    assert not result.bad
    lines = (tmp_path / "out" / "risk.jsonl").read_text().splitlines()
    offline = [RiskScore.model_validate_json(line) for line in lines]
    live_by_event: dict[str, RiskScore] = {}
    for s in scores.seen:
        assert isinstance(s, RiskScore)
        assert live_by_event.setdefault(s.event_id, s) == s  # a re-produced score is the same record
    assert len(offline) == expected == len(live_by_event)
    for record in offline:
        assert live_by_event[record.event_id] == record
    routed = {r.call_id or "" for r in offline if r.route_to_human}
    calls = sum(1 for r in offline if r.subject == "tool_call")
    assert routed and len(routed) <= 0.15 * calls
    assert {r.subject for r in offline} == {"tool_call", "run"}
    assert any("policy denied it" in r.reason for r in offline)  # top-share calls policy denied stay with policy
    assert set(routed_live) >= routed  # every routed call got its approval request
    assert all(routed_live[c].decision == Decision.REQUIRE_APPROVAL for c in routed)



def committed(admin: AdminClient, settings: WardenSettings, group: str, topic: str) -> dict[int, int]:
    found = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    return {tp.partition: tp.offset for tp in found.topic_partitions or []
            if tp.topic == settings.topic(topic) and tp.offset >= 0}


def test_the_decisions_read_beside_the_events_are_committed_for_the_group(topics: WardenSettings) -> None:
    """policy.decisions is co-partitioned: the runtime resumes it from the checkpoint and committed only agent.events
    for the group, so the embedded broker's trimmer, which waits on committed offsets (ADR 0028), did not wait for the
    risk-scorer there. Fails on the old code: no committed offset on policy.decisions."""
    events = simulated(600, f"copart-{uuid.uuid4().hex[:6]}")
    decisions = offline_decisions(events, DEFAULT_POLICIES)
    produce(topics, events)
    produce_decisions(topics, decisions)  # fresh topics, offsets from 0: a partition's end is its record count
    group = f"rs-{uuid.uuid4().hex[:8]}"
    admin = clients.admin(topics, log_level=0)
    scorer = RiskScorer(RiskScorerSettings(**{**topics.model_dump(), "group_id": group, "snapshot_every_s": 0.2}))
    with in_thread(scorer.start()):
        wait_for(lambda: sum(committed(admin, topics, group, AGENT_EVENTS).values()) == len(events), timeout_s=90,
                 what=f"agent.events committed to its end ({len(events)} records)")
        wait_for(lambda: sum(committed(admin, topics, group, POLICY_DECISIONS).values()) == len(decisions),
                 timeout_s=30, what=f"policy.decisions committed to its end ({len(decisions)} records)")
    assert len(committed(admin, topics, group, POLICY_DECISIONS)) > 1  # on every partition the group owns
