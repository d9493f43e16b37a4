"""The live policy-evaluator on the real broker: replay parity, and switches that take effect."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from tests.core.samples import DEEP, avro_with
from tests.ledger_sink.helpers import produce, simulated, wait_for
from warden.core import topics
from warden.core.records import ControlKind, Decision, PolicyDecision
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.kafka.control import publish
from warden.policy_evaluator.service import PolicyEvaluator
from warden.replay.runner import replay
from warden.sdk import WardenClient

pytestmark = pytest.mark.integration


class Decisions:
    def __init__(self, settings: WardenSettings) -> None:
        self.wire = wire_for(settings)
        self.consumer = Consumer({**settings.kafka_config(), "group.id": f"d-{uuid.uuid4().hex[:8]}",
                                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
        self.consumer.subscribe([settings.topic(topics.POLICY_DECISIONS)])
        self.seen: dict[str, PolicyDecision] = {}

    def read(self) -> None:
        for msg in self.consumer.consume(1000, 0.2):
            if msg.error() is None:
                record = self.wire.decode(msg.value(), "warden.PolicyDecision")
                assert isinstance(record, PolicyDecision)
                self.seen[record.event_id] = record

    def wait(self, count: int, timeout_s: float = 60) -> dict[str, PolicyDecision]:
        wait_for(lambda: len(self.seen) >= count, timeout_s=timeout_s, step=self.read, what=f"{count} decisions")
        return self.seen


def test_live_decisions_equal_replay_decisions(topics: WardenSettings, evaluator: PolicyEvaluator,
                                               tmp_path: Path) -> None:
    # A single run key keeps one partition, so the live order is the file order: with stop-ship
    # switches in play, decisions depend on order, and replay reads in file order.
    events = [e.model_copy(update={"run_id": "parity-run"}) for e in simulated(3000, "parity")]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(e.model_dump_json() + "\n" for e in events))
    calls = sum(1 for e in events if e.event_type == "tool_call_requested")
    produce(topics, events)
    live = Decisions(topics).wait(calls)
    result = replay(path, tmp_path / "out")
    assert not result.bad
    replayed = [line for line in (tmp_path / "out" / "decisions.jsonl").read_text().splitlines()]
    assert len(replayed) == calls == len(live)
    for line in replayed:
        offline = PolicyDecision.model_validate_json(line)
        assert live[offline.event_id] == offline
    outcomes = {d.decision for d in live.values()}
    assert {Decision.ALLOW, Decision.DENY} <= outcomes


def test_a_kill_switch_denies_calls_after_it_is_set_and_revive_allows_them(
        topics: WardenSettings, evaluator: PolicyEvaluator) -> None:
    decisions = Decisions(topics)
    with WardenClient(topics) as client:
        run = client.run("acme", "refund_ticket", "agent-1")

        def lookup() -> str:
            call = run.tool_call_requested("crm", "lookup", {"customer_id": "c1"})
            client.flush()
            return call

        def decided(call_id: str) -> PolicyDecision:
            wait_for(lambda: any(d.call_id == call_id for d in decisions.seen.values()), step=decisions.read,
                     what=f"the decision on {call_id}")
            return next(d for d in decisions.seen.values() if d.call_id == call_id)

        assert decided(lookup()).decision == Decision.ALLOW
        publish(topics, ControlKind.KILL, "tenant:acme", True, "oncall@acme", "incident 7")
        time.sleep(1.0)  # the evaluator polls the control topic before every batch
        denied = decided(lookup())
        assert denied.decision == Decision.DENY
        assert "kill switch tenant:acme set by oncall@acme" in denied.reason
        wait_for(lambda: not client.is_enabled("acme", "refund_ticket", "crm", "lookup"), what="is_enabled")
        assert client.is_enabled("globex", "refund_ticket", "crm", "lookup")
        publish(topics, ControlKind.KILL, "tenant:acme", False, "oncall@acme", "fixed")
        time.sleep(1.0)
        assert decided(lookup()).decision == Decision.ALLOW
        wait_for(lambda: client.is_enabled("acme", "refund_ticket", "crm", "lookup"), what="is_enabled again")


def test_a_hostile_event_is_skipped_and_the_calls_around_it_are_decided(topics: WardenSettings,
                                                                       evaluator: PolicyEvaluator) -> None:
    """Issue 13: params nested 10,000 levels deep raised RecursionError and the service crash-looped on
    that offset; the two good calls around it were never decided."""
    calls = [e for e in simulated(400, "hostile") if e.event_type == "tool_call_requested"][:2]
    key = calls[0].run_id.encode()
    produce(topics, calls[:1])
    produce(topics, [], [(key, avro_with(wire_for(topics), "tool_call_requested", params='{"a": ' + DEEP + "}"))])
    produce(topics, calls[1:])
    seen = Decisions(topics).wait(2)
    assert {c.event_id for c in calls} <= set(seen)
    assert evaluator.counters["skipped_invalid"] >= 1


def test_run_facts_move_to_a_replica_with_its_own_data_dir(topics: WardenSettings, tmp_path: Path) -> None:
    """Issue 14 point 2: the run facts (spend, denials) were in memory only and reset on restart; now
    they are checkpointed to the changelog, so another replica, sharing no directory, resumes them."""
    from tests.running import in_thread
    from warden.policy_evaluator.processor import EvaluatorState, RunFacts
    from warden.policy_evaluator.settings import PolicyEvaluatorSettings

    events = [e for e in simulated(1500, "facts", seed=11) if e.event_type != "run_completed"]  # runs stay open
    group = f"pe-{uuid.uuid4().hex[:8]}"

    def settings(host: str) -> PolicyEvaluatorSettings:
        (tmp_path / host).mkdir(exist_ok=True)  # a host of its own; the schema registry is shared, as in production
        shutil.copy(topics.registry_path, tmp_path / host / topics.registry_path.name)
        return PolicyEvaluatorSettings(**{**topics.model_dump(), "group_id": group, "snapshot_every_s": 0.2,
                                          "data_dir": tmp_path / host})

    def facts(states: dict[int, EvaluatorState]) -> dict[str, RunFacts]:
        return {run: f for state in states.values() for run, f in state.runs.items()}

    produce(topics, events)
    with in_thread(PolicyEvaluator(settings("host-a")).start()) as first:
        wait_for(lambda: first.counters["events"] >= len(events), what="every event read")
        before = facts(first.states)  # on stopping, its last checkpoint covers every event
    assert sum(1 for f in before.values() if f.spend_usd > 0) > 10
    second = PolicyEvaluator(settings("host-b")).start()  # another host: nothing in its data dir
    try:
        partitions = topics_partitions(topics)
        wait_for(lambda: len(second.states) == partitions and facts(second.states) == before,
                 step=second.poll_once, what="the run facts restored")
    finally:
        second.close()
    assert second.counters["events"] == 0  # restored at the checkpoint's positions: nothing read again


def topics_partitions(settings: WardenSettings) -> int:
    name = settings.topic(topics.AGENT_EVENTS)
    consumer = Consumer({**settings.kafka_config(), "group.id": "partitions"})
    try:
        return len(consumer.list_topics(name, timeout=10).topics[name].partitions)
    finally:
        consumer.close()
