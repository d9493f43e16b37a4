"""kill -9 the real `warden run cost-aggregator` mid-stream and restart it: after deduplication by
rollup_id (what the ledger does) the totals are exactly the stream's, and no id ever names two
different rows, so deduplication cannot drop money."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from tests.cost_aggregator.helpers import expected, same_totals, totals
from tests.ledger_sink.helpers import produce, simulated, wait_for
from tests.ledger_sink.test_crash import service_env
from tests.running import start_service
from warden.core import topics as names
from warden.core.records import CostRollup
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for

pytestmark = pytest.mark.integration


def test_kill_9_then_restart_loses_nothing_and_duplicates_only_identical_rows(
        topics: WardenSettings, tmp_path: Path) -> None:
    events = simulated(4000, "cost-kill", seed=21)
    want, _ = expected(events)
    env = service_env(topics, WARDEN_GROUP_ID=f"cost-{uuid.uuid4().hex[:8]}", WARDEN_IDLE_FLUSH_S="1",
                      WARDEN_SNAPSHOT_EVERY_S="0.3", WARDEN_BATCH_MAX_ROWS="200")
    log = tmp_path / "cost.log"
    service = start_service("cost-aggregator", env, log)
    reader = Consumer({**topics.kafka_config(), "group.id": f"r-{uuid.uuid4().hex[:6]}",
                       "auto.offset.reset": "earliest", "enable.auto.commit": False})
    reader.subscribe([topics.topic(names.COST_ROLLUPS)])
    wire = wire_for(topics)
    seen: list[CostRollup] = []

    def read() -> None:
        for msg in reader.consume(500, 0.1):
            if msg.error() is None:
                record = wire.decode(msg.value(), "warden.CostRollup")
                assert isinstance(record, CostRollup)
                seen.append(record)

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
