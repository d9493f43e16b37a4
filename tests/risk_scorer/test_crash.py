"""kill -9 a real `warden run risk-scorer` mid-stream, restart it: the same scores as without the crash.

Partition state (run facts, usage history, thresholds, calls awaiting decisions) is restored
from the snapshots; the records after each snapshot are re-read and scored again, producing
records identical to the first copies (the ledger lands them once).
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.ledger_sink.helpers import produce, simulated, wait_for
from tests.ledger_sink.test_crash import service_env
from tests.risk_scorer.helpers import TopicReader, offline_decisions, produce_decisions
from tests.running import start_service
from warden.core.records import PolicyDecision, RiskScore
from warden.core.settings import WardenSettings
from warden.core.topics import APPROVAL_REQUESTS, RISK_SCORES
from warden.policy.bundle import DEFAULT_POLICIES
from warden.risk_scorer.processor import KeyedRisk
from warden.risk_scorer.settings import RiskScorerSettings

pytestmark = pytest.mark.integration


def test_kill_9_mid_stream_then_restart_scores_exactly_as_an_uninterrupted_run(
        topics: WardenSettings, tmp_path: Path) -> None:
    events = simulated(6000, f"crash-{uuid.uuid4().hex[:6]}")
    decisions = offline_decisions(events, DEFAULT_POLICIES)
    by_event = {d.event_id: d for d in decisions}
    uninterrupted = KeyedRisk(RiskScorerSettings().risk_config(), 6)
    expected: dict[str, RiskScore] = {}
    expected_requests: set[str] = set()
    for event in events:
        outputs = uninterrupted.feed(event)
        if event.event_id in by_event:
            outputs += uninterrupted.feed(by_event[event.event_id])
        for out in outputs:
            if isinstance(out.record, RiskScore):
                expected[out.record.event_id] = out.record
            elif isinstance(out.record, PolicyDecision):
                expected_requests.add(out.record.decision_id)
    assert expected_requests  # some calls are routed to humans

    group = f"rs-{topics.topic_prefix}"
    state_dir = topics.state_dir / group
    env = service_env(topics, WARDEN_GROUP_ID=group, WARDEN_SNAPSHOT_EVERY_S="0.2")
    log = tmp_path / "risk-scorer.log"
    scorer = start_service("risk-scorer", env, log)
    scores = TopicReader(topics, RISK_SCORES, "warden.RiskScore")
    requests = TopicReader(topics, APPROVAL_REQUESTS, "warden.PolicyDecision")

    def trickle() -> None:
        for i in range(0, len(events), 500):
            chunk = events[i:i + 500]
            produce(topics, chunk)
            produce_decisions(topics, [by_event[e.event_id] for e in chunk if e.event_id in by_event])
            time.sleep(0.3)

    producer = threading.Thread(target=trickle)
    producer.start()
    try:
        def distinct() -> int:
            assert scorer.poll() is None, log.read_text()[-3000:]
            return len({s.event_id for s in scores.seen})

        wait_for(lambda: distinct() >= len(expected) // 3 and any(state_dir.glob("*.snapshot")),
                 timeout_s=120, step=scores.read, what="a third of the scores and a snapshot")
        scorer.send_signal(signal.SIGKILL)
        scorer.wait(10)
        before_restart = len({s.event_id for s in scores.seen})
        producer.join()
        scorer = start_service("risk-scorer", env, log)
        wait_for(lambda: distinct() >= len(expected), timeout_s=120, step=scores.read,
                 what=f"{len(expected)} distinct scores")
        wait_for(lambda: len({r.decision_id for r in requests.seen}) >= len(expected_requests), step=requests.read,
                 what=f"{len(expected_requests)} routed approval requests")
        time.sleep(1.0)
        scores.read()
    finally:
        scorer.send_signal(signal.SIGTERM)
        assert scorer.wait(30) == 0, log.read_text()[-3000:]
        producer.join()
        scores.close()
        requests.close()
    assert before_restart < len(expected)
    for record in scores.seen:
        assert record == expected[record.event_id]  # re-produced copies are the same records
    assert {s.event_id for s in scores.seen} == set(expected)
    assert {r.decision_id for r in requests.seen} == expected_requests
    text = log.read_text()
    assert "restored from snapshot" in text  # the restart resumed from state, not from scratch
