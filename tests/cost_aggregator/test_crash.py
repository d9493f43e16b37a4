"""kill -9 the real `warden run cost-aggregator` mid-stream and restart it: after deduplication by
rollup_id (what the ledger does) the totals are exactly the stream's, and no id ever names two
different rows, so deduplication cannot drop money."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.cost_aggregator.helpers import RollupReader, expected, same_totals, totals
from tests.ledger_sink.helpers import produce, simulated, wait_for
from tests.ledger_sink.test_crash import service_env
from tests.running import start_service
from warden.core import topics as names
from warden.core.records import Alert, Control, CostRollup
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.cost_aggregator.settings import CostAggregatorSettings
from warden.runtime.store import from_document
from warden.sdk import WardenClient
from warden.state.snapshots import SnapshotStore

pytestmark = pytest.mark.integration


def test_kill_9_then_restart_loses_nothing_and_duplicates_only_identical_rows(
        topics: WardenSettings, tmp_path: Path) -> None:
    events = simulated(4000, "cost-kill", seed=21)
    want, _ = expected(events)
    env = service_env(topics, WARDEN_GROUP_ID=f"cost-{uuid.uuid4().hex[:8]}", WARDEN_IDLE_FLUSH_S="1",
                      WARDEN_SNAPSHOT_EVERY_S="0.3", WARDEN_BATCH_MAX_ROWS="200")
    log = tmp_path / "cost.log"
    service = start_service("cost-aggregator", env, log)
    rollups = RollupReader(topics)
    reader, seen, read = rollups.consumer, rollups.seen, rollups.read

    def trickle() -> None:
        for i in range(0, len(events), 100):
            produce(topics, events[i:i + 100])
            time.sleep(0.25)

    producer = threading.Thread(target=trickle)
    producer.start()
    try:
        wait_for(lambda: len(seen) >= 30, step=read, timeout_s=90, what="the first rollups")
        service.send_signal(signal.SIGKILL)
        service.wait(10)
        read()
        before = totals(seen)
        producer.join()
        service = start_service("cost-aggregator", env, log)
        wait_for(lambda: "restored from snapshot" in log.read_text(), step=read, timeout_s=60,
                 what="the restarted service to reload its snapshots")
        unique: dict[str, CostRollup] = {}

        def deduplicated() -> bool:
            unique.update((r.rollup_id, r) for r in seen)
            return same_totals(totals(list(unique.values())), want)

        wait_for(deduplicated, step=read, timeout_s=120, what="deduplicated rollups to reach the stream's totals")
    finally:
        service.send_signal(signal.SIGTERM)
        code = service.wait(30)
        reader.close()
    assert code == 0, log.read_text()[-3000:]
    assert not same_totals(before, want), "the kill happened mid-stream"
    by_id: dict[str, CostRollup] = {}
    for row in seen:
        assert by_id.setdefault(row.rollup_id, row) == row, f"rollup {row.rollup_id} re-produced with other figures"


def test_kill_9_in_a_quiet_period_raises_no_budget_alert_or_switch(topics: WardenSettings, tmp_path: Path) -> None:
    """Issue 13: a tenant with $24.00 real spend under a $26 daily ceiling. After the second idle flush
    the aggregator's snapshot still holds those rows as its outbox; killed then, the restart produces
    them again (same rollup_id) and the budgets stage, counting them again at $27.10, paged budget_hard
    and set the tenant's kill switch. Counted once, the soft ticket at $20.90 is the only alert."""
    budgets = tmp_path / "budgets.toml"
    budgets.write_text('soft_ratio = 0.8\n[tenants."*"]\nday_usd = 26.0\n')
    group = f"cost-{uuid.uuid4().hex[:8]}"
    env = service_env(topics, WARDEN_GROUP_ID=group, WARDEN_IDLE_FLUSH_S="1", WARDEN_SNAPSHOT_EVERY_S="0.3",
                      WARDEN_BUDGETS_FILE=str(budgets), WARDEN_GROUP_SESSION_TIMEOUT_MS="6000")
    settings = CostAggregatorSettings(**{**topics.model_dump(), "group_id": group})
    tracker_store = SnapshotStore(settings.snapshot_dir)
    rollups_topic = settings.topic(names.COST_ROLLUPS)
    tracker_key = f"{rollups_topic}.budgets"  # where the service snapshots its budgets stage
    wire = wire_for(topics)
    rollups: list[CostRollup] = []
    alerts: list[Alert] = []
    switches: list[Control] = []
    reader = Consumer({**topics.kafka_config(), "group.id": f"r-{uuid.uuid4().hex[:6]}",
                       "auto.offset.reset": "earliest", "enable.auto.commit": False})
    reader.subscribe([topics.topic(t) for t in (names.COST_ROLLUPS, names.ALERTS, names.CONTROL)])
    kinds = {topics.topic(names.COST_ROLLUPS): "warden.CostRollup", topics.topic(names.ALERTS): "warden.Alert",
             topics.topic(names.CONTROL): "warden.Control"}

    def read() -> None:
        for msg in reader.consume(500, 0.1):
            if msg.error() is None:
                record = wire.decode(msg.value(), kinds[str(msg.topic())])
                if isinstance(record, CostRollup):
                    rollups.append(record)
                elif isinstance(record, Alert):
                    alerts.append(record)
                elif isinstance(record, Control):
                    switches.append(record)

    def spent() -> float:
        return round(sum(r.cost_usd for r in rollups if r.window == "1m"), 6)

    def tracker_caught_up() -> bool:
        """The budgets stage has read, and snapshotted, every rollup on the topic."""
        saved = tracker_store.load(tracker_key, 0)
        if saved is None:
            return False
        covered = {p: o for (t, p), o in from_document(saved.state, 0).positions.items() if t == rollups_topic}
        partitions = reader.list_topics(rollups_topic, timeout=10).topics[rollups_topic].partitions
        highs = {p: reader.get_watermark_offsets(TopicPartition(rollups_topic, p), timeout=10)[1] for p in partitions}
        return all(high <= covered.get(p, 0) for p, high in highs.items())

    tenant = f"quiet-{uuid.uuid4().hex[:6]}"
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    log = tmp_path / "cost.log"
    service = start_service("cost-aggregator", env, log)
    try:
        with WardenClient(topics) as client:
            run = client.run(tenant, "refund_ticket", "agent-1")
            for i, cost in enumerate((10.0, 10.9)):  # $20.90: past the soft limit ($20.80)
                run.llm_call("gpt-4o", "openai", 1000, 100, 20.0, cost_usd=cost, at=t0 + timedelta(seconds=i))
            client.flush()
            wait_for(lambda: spent() == 20.9, step=read, timeout_s=90, what="the first idle flush's rollups")
            for i, cost in enumerate((1.0, 2.1)):  # $3.10 more, two minutes later: $24.00 in all
                run.llm_call("gpt-4o", "openai", 1000, 100, 20.0, cost_usd=cost,
                             at=t0 + timedelta(minutes=2, seconds=i))
            client.flush()
        wait_for(lambda: spent() == 24.0, step=read, timeout_s=60, what="the second idle flush's rollups")
        wait_for(tracker_caught_up, step=read, timeout_s=60, what="the budgets stage to snapshot every rollup")
        assert [a.rule for a in alerts] == ["budget_soft"] and switches == []
        service.send_signal(signal.SIGKILL)  # quiet: no input since the flush, its snapshot still holds the rows
        service.wait(10)
        service = start_service("cost-aggregator", env, log)
        wait_for(lambda: spent() > 24.0, step=read, timeout_s=90, what="the restart to produce the rows again")
        assert len({r.rollup_id for r in rollups}) < len(rollups), "re-produced rows carry the same ids"
        wait_for(tracker_caught_up, step=read, timeout_s=60, what="the budgets stage to read the re-produced rows")
        read()
    finally:
        service.send_signal(signal.SIGTERM)
        code = service.wait(30)
        reader.close()
    assert code == 0, log.read_text()[-3000:]
    assert "re-producing" in log.read_text()
    assert [a.rule for a in alerts if a.tenant_id == tenant] == ["budget_soft"], [a.summary for a in alerts]
    assert switches == [], [s.reason for s in switches]
