"""The live anomaly-alerter on the real broker: the same alerts as `warden replay`, and a restart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.alerting.events import tool_error
from tests.ledger_sink.helpers import produce, simulated, wait_for
from tests.risk_scorer.helpers import policies_without_stop_ship
from tests.running import in_thread
from warden.alerting.config import load_rules
from warden.anomaly_alerter.service import AnomalyAlerter
from warden.anomaly_alerter.settings import AnomalyAlerterSettings
from warden.core import topics as topic_names
from warden.core.records import Alert
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.policy_evaluator.service import PolicyEvaluator
from warden.policy_evaluator.settings import PolicyEvaluatorSettings
from warden.replay.runner import replay

pytestmark = pytest.mark.integration

ALERTER_RULES = {"out_of_inventory", "stop_ship", "tool_error_burst", "step_limit", "spend_rate_baseline",
                 "success_rate_baseline", "deny_count_baseline", "context_growth"}


class Alerts:
    def __init__(self, settings: WardenSettings) -> None:
        self.wire = wire_for(settings)
        self.consumer = Consumer({**settings.kafka_config(), "group.id": f"a-{uuid.uuid4().hex[:8]}",
                                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
        self.consumer.subscribe([settings.topic(topic_names.ALERTS)])
        self.seen: list[Alert] = []

    def read(self) -> None:
        for msg in self.consumer.consume(1000, 0.2):
            if msg.error() is None:
                record = self.wire.decode(msg.value(), "warden.Alert")
                assert isinstance(record, Alert)
                self.seen.append(record)


@contextmanager
def alerter(settings: WardenSettings, group: str) -> Iterator[AnomalyAlerter]:
    fields = {**settings.model_dump(), "group_id": group, "snapshot_interval_s": 0.5, "alert_decision_wait_s": 300}
    with in_thread(AnomalyAlerter(AnomalyAlerterSettings(**fields)).start()) as service:
        yield service


@contextmanager
def evaluator(settings: WardenSettings, policies: Path) -> Iterator[PolicyEvaluator]:
    fields = {**settings.model_dump(), "group_id": f"pe-{uuid.uuid4().hex[:8]}", "policies_dir": policies}
    with in_thread(PolicyEvaluator(PolicyEvaluatorSettings(**fields)).start()) as service:
        yield service


def key(alert: Alert) -> tuple[str, int, str]:
    return alert.alert_id, alert.count, alert.status


def test_live_alerts_equal_replay_alerts_across_partitions_and_survive_a_restart(
        topics: WardenSettings, tmp_path: Path) -> None:
    # Without stop-ship kill switches: a switch set in one partition changes the evaluator's later
    # decisions in another depending on interleaving, which is the evaluator's ordering question,
    # not the alerter's (out-of-inventory denies still page).
    policies = policies_without_stop_ship(tmp_path)
    events = simulated(6000, "alerts-parity", seed=5)  # many runs over all six partitions, three tenants
    path = tmp_path / "events.jsonl"
    path.write_text("".join(e.model_dump_json() + "\n" for e in events))
    rules = load_rules(renotify_s=AnomalyAlerterSettings().alert_renotify_minutes * 60)
    result = replay(path, tmp_path / "out", policies, alert_rules=rules)
    assert not result.bad
    every = [Alert.model_validate_json(line) for line in (tmp_path / "out" / "alerts.jsonl").read_text().splitlines()]
    offline = [a for a in every if a.rule in ALERTER_RULES]  # replay also runs the cost-aggregator
    kinds = {a.kind.value for a in offline}
    assert {"unauthorized_action", "repeated_tool_failures", "runaway_steps"} <= kinds, kinds

    calls = sum(1 for e in events if e.event_type == "tool_call_requested")
    first, rest = events[: len(events) // 2], events[len(events) // 2:]
    group = f"aa-{uuid.uuid4().hex[:8]}"
    live = Alerts(topics)
    first_calls = sum(1 for e in first if e.event_type == "tool_call_requested")
    stack = ExitStack()
    with alerter(topics, group) as service:
        # The alerter runs before the evaluator does: every decision comes seconds after its request,
        # long after the decision partitions went idle. The decisions lane must wait for them.
        produce(topics, first)
        wait_for(lambda: len(service.undecided) >= first_calls, what="every request of the first half read")
        decider = stack.enter_context(evaluator(topics, policies))
        wait_for(lambda: decider.counters["produced:policy.decisions"] >= first_calls, what="the first decisions")
        wait_for(lambda: service.caught_up() and not service.undecided, what="the first half processed")
        late = service.late
    with stack:
        # a restart: the next instance resumes from the snapshot, mid-stream
        produce(topics, rest)
        wait_for(lambda: decider.counters["produced:policy.decisions"] >= calls, what="every decision")
        with alerter(topics, group) as service:
            wait_for(lambda: service.counters["processed"] > 0 and service.caught_up(), timeout_s=90,
                     step=live.read, what="the second half")
            late += service.late
            second_run = service.counters["processed"]
        live.read()
        wait_for(lambda: len({key(a) for a in live.seen}) >= len(offline), step=live.read, what="every alert")
    assert late == 0
    # lane steps: every event once, every request and decision once more; from the beginning would be more
    assert 0 < second_run < len(events) + calls  # resumed from the snapshot, not from the beginning
    online = {key(a): a for a in live.seen}
    assert set(online) == {key(a) for a in offline}
    for alert in offline:
        assert online[key(alert)] == alert


def test_events_a_client_sends_again_raise_no_alert(topics: WardenSettings) -> None:
    """Issue 13: a burst one short of the threshold (four errors of one tool; five page), each sent
    twice by a client retrying, paged on main. Counted once by event_id, nothing fires."""
    burst = [tool_error(t, run=f"resend-{t}") for t in (0, 30, 60, 90)]
    with alerter(topics, f"aa-{uuid.uuid4().hex[:8]}") as service:
        produce(topics, burst)
        produce(topics, [*burst, burst[0]])  # the client's re-sends: same event_id, same run
        wait_for(lambda: service.counters["processed"] >= 2 * len(burst) + 1 and service.caught_up(),
                 what="every copy through the events lane")
    # stopped: its last alerts are flushed, so the topic's end offsets are final
    live = Alerts(topics)
    alerts_topic = topics.topic(topic_names.ALERTS)
    try:
        partitions = live.consumer.list_topics(alerts_topic, timeout=10).topics[alerts_topic].partitions
        produced = sum(live.consumer.get_watermark_offsets(TopicPartition(alerts_topic, p), timeout=10)[1]
                       for p in partitions)
        wait_for(lambda: len(live.seen) >= produced, step=live.read, what="the alerts produced")
    finally:
        live.consumer.close()
    assert produced == 0, [a.summary for a in live.seen]
    assert service.states["events"].duplicates == len(burst) + 1
