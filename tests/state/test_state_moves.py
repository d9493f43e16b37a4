"""Issue 14 point 5: state moves with its partition to a replica on another host.

Two cost-aggregator replicas (`warden run` processes) share one broker and nothing else: each has
its own data directory, so a partition that moves finds no snapshot on its new host and must come
from the changelog topic. The owner of half the partitions is killed with SIGKILL mid-stream; the
other takes them over, restored at the dead replica's last checkpoint (not rebuilt from offset 0),
and the rollups, deduplicated by id, add up to exactly what `warden replay` computes for the same
events, with no rollup id naming two different rows (no event counted twice).
"""

from __future__ import annotations

import re
import shutil
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.cost_aggregator.helpers import RollupReader, expected, same_totals, totals
from tests.ledger_sink.helpers import produce, simulated, wait_for
from tests.ledger_sink.test_crash import service_env
from tests.running import start_service
from warden.core.records import CostRollup
from warden.core.settings import WardenSettings
from warden.core.wire import RECORD_NAMES, wire_for

pytestmark = pytest.mark.integration
RESTORED = re.compile(r"agent\.events\[(\d)\]: restored from snapshot at offset (\d+)")
OWNED = re.compile(r"agent\.events\[(\d)\]: (?:restored from snapshot|no snapshot)")


def host(topics: WardenSettings, root: Path, name: str, group: str) -> dict[str, str]:
    """A replica's environment: a data directory of its own; the schema registry is shared, as in production."""
    data = root / name
    data.mkdir()
    codec = wire_for(topics).codec
    for record in RECORD_NAMES.values():  # every id fixed before the copies, so both hosts agree on them
        codec.schema_id(record)
    shutil.copy(topics.registry_path, data / topics.registry_path.name)
    return {**service_env(topics, WARDEN_GROUP_ID=group, WARDEN_IDLE_FLUSH_S="1", WARDEN_SNAPSHOT_EVERY_S="0.3",
                          WARDEN_BATCH_MAX_ROWS="200", WARDEN_BUDGETS_ENABLED="false"),
            "WARDEN_DATA_DIR": str(data)}


def owned(text: str) -> set[int]:
    return {int(p) for p in OWNED.findall(text)}


def test_a_killed_owners_partitions_resume_on_the_other_host_from_the_changelog(
        topics: WardenSettings, tmp_path: Path) -> None:
    events = simulated(3000, "moves", seed=31)
    want, _ = expected(events)
    group = f"moves-{uuid.uuid4().hex[:8]}"
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    envs = {name: host(topics, tmp_path, f"host-{name}", group) for name in logs}
    rollups = RollupReader(topics)
    reader, seen, read = rollups.consumer, rollups.seen, rollups.read

    def trickle() -> None:
        for i in range(0, len(events), 100):
            produce(topics, events[i:i + 100])
            time.sleep(0.3)

    producer = threading.Thread(target=trickle)
    a = start_service("cost-aggregator", envs["a"], logs["a"])
    b = start_service("cost-aggregator", envs["b"], logs["b"])
    try:
        # both have joined and split the partitions (eager rebalances: what each owns last is in its log)
        wait_for(lambda: bool(owned(logs["a"].read_text())) and bool(owned(logs["b"].read_text())), timeout_s=60,
                 what="both replicas to own partitions")
        producer.start()
        wait_for(lambda: len(seen) >= 20, step=read, timeout_s=60, what="the first rollups")
        taken_at = len(logs["b"].read_text())
        a.send_signal(signal.SIGKILL)  # mid-stream: the producer is still sending
        a.wait(10)
        assert producer.is_alive(), "the kill must come before the last events are sent"
        wait_for(lambda: owned(logs["b"].read_text()[taken_at:]) == set(range(6)), step=read, timeout_s=60,
                 what="the surviving replica to take every partition over")
        moved = {int(p): int(o) for p, o in RESTORED.findall(logs["b"].read_text()[taken_at:])}
        producer.join()
        unique: dict[str, CostRollup] = {}

        def deduplicated() -> bool:
            unique.update((r.rollup_id, r) for r in seen)
            return same_totals(totals(list(unique.values())), want)

        wait_for(deduplicated, step=read, timeout_s=60, what="deduplicated rollups to reach the stream's totals")
    finally:
        for process in (a, b):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        code = b.wait(30)
        a.wait(10)
        reader.close()
    assert code == 0, logs["b"].read_text()[-3000:]
    # every partition came from a checkpoint (host-b's disk never had host-a's), none from offset 0
    assert set(moved) == set(range(6)) and all(offset > 0 for offset in moved.values()), moved
    by_id: dict[str, CostRollup] = {}
    for row in seen:
        assert by_id.setdefault(row.rollup_id, row) == row, f"rollup {row.rollup_id} re-produced with other figures"
