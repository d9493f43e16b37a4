"""The embedded durable broker deletes record batches once Warden's services have read them (ADR 0028): a stop of
any length loses nothing unread, and only a partition past the unread ceiling loses its oldest, said loudly."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.broker.test_changelog_ttl import STATEFUL, durable  # noqa: F401 (a fixture)
from tests.broker.test_embedded import client_settings
from warden.anomaly_alerter.service import AnomalyAlerter
from warden.anomaly_alerter.settings import AnomalyAlerterSettings
from warden.broker import embedded
from warden.broker.admin import ensure_topics
from warden.broker.embedded import (
    BUDGETS_GROUP,
    LANDING_GROUP,
    REREAD,
    SERVICE_READS,
    STACK_GROUPS,
    EmbeddedBroker,
    holders,
    trimmed_topics,
)
from warden.broker.history import StoredBatch, list_batches, records_prefix
from warden.broker.tansu import CLUSTER_ID, free_port
from warden.broker.trim import BatchTrimmer, floor_of, plan
from warden.core import topics
from warden.core.settings import WardenSettings
from warden.cost_aggregator.service import CostAggregator
from warden.cost_aggregator.settings import CostAggregatorSettings
from warden.kafka import clients
from warden.ledger.client import Ledger
from warden.ledger_sink.service import LedgerSink
from warden.ledger_sink.settings import LedgerSinkSettings
from warden.notifier.service import Notifier
from warden.notifier.settings import NotifierSettings
from warden.policy_evaluator.service import PolicyEvaluator
from warden.policy_evaluator.settings import PolicyEvaluatorSettings
from warden.risk_scorer.service import RiskScorer
from warden.risk_scorer.settings import RiskScorerSettings
from warden.rollout_controller.service import RolloutController
from warden.rollout_controller.settings import RolloutControllerSettings
from warden.runtime.app import App
from warden.stack import OPTIONAL_SERVICES, SERVICES, Stack


def batch(offset: int, written_at: float = 0.0) -> StoredBatch:
    return StoredBatch(f"records/{offset:0>20}.batch", offset, written_at)


BATCHES = [batch(0), batch(10), batch(20), batch(30), batch(40)]


def offsets(found: list[StoredBatch]) -> list[int]:
    return [b.base_offset for b in found]


def test_a_batch_goes_once_the_next_one_starts_at_or_below_every_groups_offset() -> None:
    assert offsets(plan(BATCHES, 25, now=1000, keep_read_s=60, unread_max=100).read) == [0, 10]
    assert offsets(plan(BATCHES, 20, now=1000, keep_read_s=60, unread_max=100).read) == [0, 10]
    assert offsets(plan(BATCHES, 19, now=1000, keep_read_s=60, unread_max=100).read) == [0]
    assert offsets(plan(BATCHES, 0, now=1000, keep_read_s=60, unread_max=100).read) == []
    everything = plan(BATCHES, 10_000, now=1000, keep_read_s=60, unread_max=100)
    assert offsets(everything.read) == [0, 10, 20, 30]  # the newest stays
    assert everything.unread == []


def test_read_batches_younger_than_the_keep_time_stay_and_so_does_all_after_them() -> None:
    young = [batch(0, 900), batch(10, 990), batch(20, 900), batch(30, 900)]
    assert offsets(plan(young, 100, now=1000, keep_read_s=60, unread_max=100).read) == [0]


def test_with_no_group_committed_on_the_topic_age_alone_decides() -> None:
    aged = [batch(0, 0), batch(10, 100), batch(20, 950), batch(30, 990)]
    assert offsets(plan(aged, None, now=1000, keep_read_s=60, unread_max=100).read) == [0, 10]


def test_unread_batches_stay_however_old_until_the_ceiling() -> None:
    kept = plan(BATCHES, 20, now=10**9, keep_read_s=60, unread_max=3)
    assert offsets(kept.read) == [0, 10] and kept.unread == []
    over = plan(BATCHES, 10, now=10**9, keep_read_s=60, unread_max=2)
    assert offsets(over.read) == [0]
    assert offsets(over.unread) == [10, 20]  # the oldest unread, down to the ceiling: 30 and 40 kept


def test_a_group_that_reads_a_topic_but_not_yet_this_partition_holds_it_at_zero() -> None:
    floors = {("t", 0): {"a": 50, "b": 70}, ("t", 1): {"a": 30}, ("u", 0): {"c": 5}}
    assert floor_of(floors, "t", 0) == (50, {"a": 50, "b": 70})
    assert floor_of(floors, "t", 1) == (0, {"a": 30, "b": 0})
    assert floor_of(floors, "t", 2) == (0, {"a": 0, "b": 0})
    assert floor_of(floors, "v", 0) == (None, {})
    assert floor_of(floors, "v", 0, required=("sink",)) == (0, {"sink": 0})  # nothing goes before it commits
    assert floor_of(floors, "t", 0, required=("sink",)) == (0, {"a": 50, "b": 70, "sink": 0})


def test_the_ledger_sink_reads_every_trimmed_topic() -> None:
    from warden.ledger_rows.tables import TABLES

    settings = WardenSettings(topic_prefix="")
    assert set(trimmed_topics(settings)) <= set(TABLES)  # so it is required on each (embedded.LANDING_GROUP)


def test_the_groups_are_every_committing_service_group_of_the_stack() -> None:
    settings_classes: tuple[type[WardenSettings], ...] = (*STATEFUL, LedgerSinkSettings, NotifierSettings)
    groups = {str(cls.model_fields["group_id"].default) for cls in settings_classes}
    groups.add(f"{CostAggregatorSettings.model_fields['group_id'].default}-budgets")  # its second stage
    assert groups == set(STACK_GROUPS)


SINK, SCORER, BUDGETS = LANDING_GROUP, "warden-risk-scorer", BUDGETS_GROUP


def test_a_started_group_holds_the_trimmed_topics_it_reads_and_no_other() -> None:
    settings = WardenSettings(topic_prefix="p.")
    t = settings.topic
    held = holders(settings, SERVICES)
    assert held[t(topics.AGENT_EVENTS)] == (SINK, "warden-policy-evaluator", SCORER, "warden-cost-aggregator",
                                            "warden-anomaly-alerter", "warden-rollout-controller")
    # the risk-scorer's policy.decisions is co-partitioned: the runtime commits it for the group too
    assert held[t(topics.POLICY_DECISIONS)] == (SINK, SCORER, "warden-anomaly-alerter", "warden-rollout-controller")
    assert held[t(topics.COST_ROLLUPS)] == (SINK, BUDGETS)
    assert held[t(topics.ALERTS)] == (SINK, "warden-notifier", "warden-rollout-controller")
    assert set(held) == set(trimmed_topics(settings))  # approvals.decisions (rollout-controller) is not trimmed
    for topic in {t(topics.RISK_SCORES), t(topics.DEADLETTER), t(topics.PROXY_CALLS), t(topics.EVAL_RESULTS)}:
        assert held[topic] == (SINK,)
    assert holders(settings, (*SERVICES, *OPTIONAL_SERVICES)) == held  # tool-proxy and otlp-ingest commit nothing
    assert holders(settings, SERVICES, budgets=False)[t(topics.COST_ROLLUPS)] == (SINK,)
    # a service the stack did not start holds nothing before it commits
    assert holders(settings, ("ledger-sink",)) == {topic: (SINK,) for topic in trimmed_topics(settings)}
    assert holders(settings, ("risk-scorer",)) == {t(topics.AGENT_EVENTS): (SCORER,),
                                                   t(topics.POLICY_DECISIONS): (SCORER,)}


def test_a_started_group_that_never_committed_holds_its_topics_partitions_at_zero() -> None:
    """The risk-scorer crash-looping at its first start: every other reader of agent.events is past 70."""
    settings = WardenSettings(topic_prefix="")
    held = holders(settings, SERVICES)
    others = {SINK: 90, "warden-policy-evaluator": 80, "warden-cost-aggregator": 85, "warden-anomaly-alerter": 70,
              "warden-rollout-controller": 75}
    floors = {(topics.AGENT_EVENTS, 0): others, (topics.AGENT_EVENTS, 1): {SINK: 9},
              (topics.RISK_SCORES, 0): {SINK: 40}}
    assert floor_of(floors, topics.AGENT_EVENTS, 0, (SINK,)) == (70, others)  # the sink alone: 0..69 would go
    assert floor_of(floors, topics.AGENT_EVENTS, 0, held[topics.AGENT_EVENTS]) == (0, {**others, SCORER: 0})
    floor, by_group = floor_of(floors, topics.AGENT_EVENTS, 1, held[topics.AGENT_EVENTS])
    assert floor == 0 and by_group[SINK] == 9 and by_group[SCORER] == 0
    assert floor_of(floors, topics.RISK_SCORES, 0, held[topics.RISK_SCORES]) == (40, {SINK: 40})  # not read by it


def declared_reads(app: App) -> dict[str, frozenset[str]]:
    """Each of an App's consumer groups -> the topics its task reads and commits: the main and co-partitioned inputs
    (Task._committed_partitions; not the broadcast ones, read from their start and never committed)."""
    return {task.group_id: frozenset(task.base[full] for full in (*task.main, *task.copartitioned))
            for task in app.tasks}


def test_service_reads_are_the_groups_and_main_inputs_the_services_declare(tmp_path: Path, ledger: Ledger) -> None:
    # Built, never started: nothing listens there. Default group ids, as `warden up` runs them.
    fields: dict[str, Any] = {"data_dir": tmp_path, "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
                              "kafka_extra_config": {"log_level": 0}}
    apps: dict[str, Callable[[], App]] = {
        "ledger-sink": lambda: LedgerSink(LedgerSinkSettings(**fields, clickhouse_database=ledger.database,
                                                             serve_queries=False), ledger),
        "policy-evaluator": lambda: PolicyEvaluator(PolicyEvaluatorSettings(**fields)),
        "risk-scorer": lambda: RiskScorer(RiskScorerSettings(**fields)),
        "cost-aggregator": lambda: CostAggregator(CostAggregatorSettings(**fields)),
        "anomaly-alerter": lambda: AnomalyAlerter(AnomalyAlerterSettings(**fields)),
        "notifier": lambda: Notifier(NotifierSettings(**fields)),
        "rollout-controller": lambda: RolloutController(RolloutControllerSettings(**fields)),
    }
    assert set(apps) == set(SERVICE_READS)
    for name, build in apps.items():
        app = build()
        try:
            assert declared_reads(app) == SERVICE_READS[name], name
        finally:
            app.close(checkpoint=False)
    single = CostAggregator(CostAggregatorSettings(**fields, budgets_enabled=False))
    try:
        assert set(declared_reads(single)) == set(SERVICE_READS["cost-aggregator"]) - {BUDGETS}  # holders' budgets
    finally:
        single.close(checkpoint=False)
    # the other services of the stack run no runtime App: they commit no offsets, so they hold nothing
    for name in set(SERVICES + OPTIONAL_SERVICES) - set(apps):
        module = importlib.import_module(f"warden.{name.replace('-', '_')}.service")
        assert not [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, App)], name


def test_every_delete_topic_is_trimmed_but_the_ones_read_again_from_their_start() -> None:
    settings = WardenSettings(topic_prefix="p.")
    trimmed = trimmed_topics(settings)
    assert trimmed[settings.topic(topics.AGENT_EVENTS)] == topics.PARTITIONS[topics.AGENT_EVENTS]
    assert settings.topic(topics.CONTROL) not in trimmed  # compacted: the switches
    assert not {settings.topic(t) for t in REREAD} & set(trimmed)
    assert {topics.APPROVAL_REQUESTS, topics.APPROVAL_DECISIONS, topics.ROLLOUT_DECISIONS} == REREAD


# -- on the real durable broker ---------------------------------------------------------------------------------

TOPIC = topics.AGENT_EVENTS


def produce_batches(settings: WardenSettings, count: int, topic: str = TOPIC) -> None:
    """``count`` records on partition 0, each its own batch (flushed one by one)."""
    producer = Producer({**settings.producer_config(), "acks": "all", "linger.ms": 0})
    for i in range(count):
        producer.produce(settings.topic(topic), str(i).encode(), partition=0)
        assert producer.flush(10) == 0


def commit(settings: WardenSettings, group: str, offset: int, topic: str = TOPIC) -> None:
    consumer = Consumer({**settings.kafka_config(), "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(settings.topic(topic), 0, offset)], asynchronous=False)
    consumer.close()


def read_from(settings: WardenSettings, group: str, expected: int) -> list[int]:
    consumer = Consumer({**settings.kafka_config(), "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(settings.topic(TOPIC), 0)])
    got: list[int] = []
    deadline = time.monotonic() + 30
    while len(got) < expected and time.monotonic() < deadline:
        got += [m.offset() for m in consumer.consume(100, 0.5) if m.error() is None]  # type: ignore[misc]
    consumer.close()
    return got


def stored(broker: EmbeddedBroker, settings: WardenSettings, topic: str = TOPIC) -> list[int]:
    assert broker.storage is not None
    with httpx.Client(timeout=10) as client:
        prefix = records_prefix(CLUSTER_ID, settings.topic(topic), 0)
        return offsets(list_batches(client, broker.storage.s3_url, prefix))


def later(clock_s: float = 3600.0) -> Callable[[], float]:
    return lambda: time.time() + clock_s  # an hour on: every batch past the keep time


def trimmer_for(broker: EmbeddedBroker, settings: WardenSettings, unread_max: int,
                later_s: float = 3600.0, clock: Callable[[], float] | None = None) -> BatchTrimmer:
    assert broker.storage is not None
    storage = broker.storage
    admin = clients.admin(settings, log_level=0)
    return BatchTrimmer(lambda: storage.s3_url, admin, CLUSTER_ID, {settings.topic(TOPIC): 1},
                        ("sink", "scorer", "never-started"), keep_read_s=120, unread_max=unread_max,
                        clock=clock or later(later_s))


@pytest.mark.integration
def test_batches_every_group_read_are_deleted_and_reading_resumes_past_them(
        durable: EmbeddedBroker, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    settings = client_settings(durable.settings)
    ensure_topics(settings)
    produce_batches(settings, 12)
    assert stored(durable, settings) == list(range(12))
    commit(settings, "sink", 9)
    commit(settings, "scorer", 5)  # the slowest reader decides

    trimmer = trimmer_for(durable, settings, unread_max=100)
    done = trimmer.trim_once()
    assert (done.read, done.unread) == (5, 0)
    assert trimmer.held[settings.topic(TOPIC)] == (7, ["scorer"])  # who holds the 7 batches past the keep time
    assert stored(durable, settings) == list(range(5, 12))  # a stop of an hour kept every unread batch
    assert read_from(settings, "scorer", 7) == list(range(5, 12))  # it resumes where it stood, nothing lost

    commit(settings, "scorer", 12)
    assert trimmer.trim_once().read == 4  # 5..8; 9.. unread by the sink
    assert stored(durable, settings) == list(range(9, 12))

    with caplog.at_level(logging.ERROR, logger="warden.broker.trim"):
        ceiling = trimmer_for(durable, settings, unread_max=1).trim_once()
    assert (ceiling.read, ceiling.unread) == (0, 2)
    assert stored(durable, settings) == [11]
    assert "deleting the oldest 2 (offsets 9 to 10), not yet read by sink:" in caplog.text
    assert read_from(settings, "sink", 1) == [11]  # the sink resumes at the first batch kept


@pytest.mark.integration
def test_deleting_read_batches_is_said_in_one_line_a_minute_at_most(
        durable: EmbeddedBroker, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    """It deleted them in silence: an operator could not tell retention was at work."""
    settings = client_settings(durable.settings)
    ensure_topics(settings)
    produce_batches(settings, 4)
    end = max(stored(durable, settings)) + 1
    commit(settings, "sink", end)
    commit(settings, "scorer", end)
    now = [time.time() + 3600]
    trimmer = trimmer_for(durable, settings, unread_max=100, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="warden.broker.trim"):
        deleted = trimmer.trim_once().read
        assert deleted >= 3 and "deleted" not in caplog.text  # not yet a minute since the last line
        now[0] += 61
        assert trimmer.trim_once().read == 0
    assert (f"deleted {deleted} batches every service had read, older than 2 min, in the last 61 s "
            f"({settings.topic(TOPIC)} {deleted})") in caplog.text


@pytest.mark.integration
def test_a_group_the_stack_started_holds_its_topic_before_its_first_commit(durable: EmbeddedBroker) -> None:  # noqa: F811
    """The risk-scorer crash-looping at its first start: the sink had read and landed agent.events and the batches
    were past the keep time, so they went (only the sink counted before its first commit) and the risk-scorer,
    once up, never saw them. Fails on the old code (``trimmer`` took no services and held by the sink alone)."""
    settings = client_settings(durable.settings)
    ensure_topics(settings)
    produce_batches(settings, 6)
    produce_batches(settings, 3, topics.RISK_SCORES)
    end, scored = max(stored(durable, settings)) + 1, max(stored(durable, settings, topics.RISK_SCORES)) + 1
    commit(settings, SINK, end)
    commit(settings, SINK, scored, topics.RISK_SCORES)
    trimmer = trimmer_for_stack(durable, settings, ("ledger-sink", "risk-scorer"))

    first = trimmer.trim_once()
    assert stored(durable, settings) == list(range(end - 6, end))  # every batch kept: the risk-scorer read none
    assert trimmer.held[settings.topic(TOPIC)] == (6, [SCORER])  # and it is who holds them
    # risk.scores it does not read: it does not hold it (else that topic would never trim)
    assert stored(durable, settings, topics.RISK_SCORES) == [scored - 1]
    assert first.read == 2
    assert read_from(settings, SCORER, 6) == list(range(end - 6, end))  # once up, it reads them all

    commit(settings, SCORER, end - 2)
    assert trimmer.trim_once().read == 4  # up to the batch it has not read
    assert stored(durable, settings) == [end - 2, end - 1]
    commit(settings, SCORER, end)
    assert trimmer.trim_once().read == 1  # the newest batch stays
    assert stored(durable, settings) == [end - 1]


@pytest.mark.integration
def test_warden_up_holds_each_topic_for_the_services_it_started(
        durable: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Stack passes its own services (and whether the budgets stage runs) to the trimmer. Fails on the old code:
    the sink alone was required, on every topic."""
    monkeypatch.setenv("WARDEN_BUDGETS_ENABLED", "false")
    settings = durable.settings
    services = ("ledger-sink", "risk-scorer", "cost-aggregator")
    stack = Stack(settings.model_copy(update={"data_dir": tmp_path / "w"}), services)
    stack.broker = durable
    stack._watch_storage()
    assert stack.trimmer is not None and stack.history is not None
    try:
        assert stack.trimmer.required == holders(settings, services, budgets=False)
        assert stack.trimmer.required[settings.topic(TOPIC)] == (SINK, SCORER, "warden-cost-aggregator")
        assert stack.trimmer.required[settings.topic(topics.COST_ROLLUPS)] == (SINK,)  # no budgets stage runs
    finally:
        stack.history.stop()
        stack.trimmer.stop()


def trimmer_for_stack(broker: EmbeddedBroker, settings: WardenSettings, services: tuple[str, ...]) -> BatchTrimmer:
    """What `warden up` runs for ``services`` (warden.broker.embedded.trimmer), an hour on."""
    assert broker.storage is not None
    storage = broker.storage
    trimmer = embedded.trimmer(settings, lambda: storage.s3_url, clients.admin(settings, log_level=0), services)
    trimmer.clock = later()
    return trimmer
