"""What a reader at the end of a compacted topic does once the partition holds many batches, on the embedded
durable broker (Tansu on SeaweedFS): a changelog restore from its committed hint (warden.runtime.changelog)
and the control view following the control topic (warden.kafka.control). Tansu lists every batch of a
partition on each fetch and gives up when the fetch wait is up (ADR 0007, 0021).

    .venv/bin/python benchmarks/changelog_restore.py --batches 500,1200,2500

For each count N: N checkpoints of one key written and synced one by one (each a batch: one produce,
flushed; its hint committed), then a second replica restores the key from the hint (timed; the store
gives up after 60 s), then N control records (one batch each), a ControlView catches up from offset 0 and
one new switch is published: the time until the view has it. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import cpu_model
from warden.broker.embedded import EmbeddedBroker
from warden.broker.history import HistoryWatch
from warden.broker.tansu import CLUSTER_ID, free_port
from warden.core import topics
from warden.core.errors import StateError
from warden.core.records import Control, ControlKind
from warden.core.settings import WardenSettings
from warden.core.wire import validate, wire_for
from warden.kafka import clients
from warden.kafka.configs import Fetch
from warden.kafka.control import ControlView, publish
from warden.runtime.changelog import ChangelogStore
from warden.state.snapshots import SnapshotStore

KEY_TOPIC = "bench.agent.events"


def restore(settings: WardenSettings, watch: HistoryWatch, work: Path, batches: int) -> dict[str, Any]:
    group = f"restore-{batches}-{uuid.uuid4().hex[:6]}"
    producer = clients.producer(settings)
    consumer = clients.reader(settings, group, Fetch())
    store = ChangelogStore(settings, group, producer, SnapshotStore(work / f"{group}-a"))
    store.attach(consumer)
    store.load(KEY_TOPIC, 0)
    begin = time.monotonic()
    for n in range(batches):
        store.save(KEY_TOPIC, 0, n + 1, {"n": n, "pad": "x" * 200})
        store.sync()
    written_s = time.monotonic() - begin
    store.close()
    counted = watch.counts().get((store.topic, 0), 0)
    other = ChangelogStore(settings, group, producer, SnapshotStore(work / f"{group}-b"))  # no shared cache
    other.attach(consumer)
    begin = time.monotonic()
    try:
        snapshot = other.load(KEY_TOPIC, 0)
        outcome = "restored" if snapshot is not None and snapshot.state["n"] == batches - 1 else f"wrong: {snapshot}"
    except StateError as exc:
        outcome = f"failed: {exc}"
    took = time.monotonic() - begin
    other.close()
    consumer.close()
    producer.close(5)
    return {"batches": counted, "written_s": round(written_s, 1), "restore_s": round(took, 2), "outcome": outcome}


def control(settings: WardenSettings, watch: HistoryWatch, batches: int, wait_s: float) -> dict[str, Any]:
    topic = settings.topic(topics.CONTROL)
    before = watch.counts().get((topic, 0), 0)
    producer, wire = clients.producer(settings), wire_for(settings)
    for n in range(max(0, batches - before)):  # one flushed record each: a batch of its own
        record = validate(Control, {"kind": ControlKind.KILL, "scope": f"workflow:bench-{n % 50}",
                                    "active": n % 2 == 0, "actor": "bench", "reason": "history",
                                    "at": datetime.now(UTC)})
        producer.produce(topic, wire.encode(record), key=record.key.encode())
        producer.flush_or_raise(30, "a control record")
    producer.close(5)
    counted = watch.counts().get((topic, 0), 0)
    begin = time.monotonic()
    view = ControlView(settings)
    try:
        caught = view.caught_up.wait(120)
        caught_s = time.monotonic() - begin
        scope = f"tail-{uuid.uuid4().hex[:6]}"
        publish(settings, ControlKind.KILL, f"workflow:{scope}", True, "bench", "tail")
        sent = time.monotonic()
        seen = None
        while time.monotonic() - sent < wait_s:
            if not view.is_enabled("t", scope):
                seen = time.monotonic() - sent
                break
            time.sleep(0.05)
    finally:
        view.close()
    return {"batches": counted, "caught_up": caught, "catch_up_s": round(caught_s, 2),
            "new_switch_seen_s": None if seen is None else round(seen, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="500,1200,2500")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--switch-wait-s", type=float, default=60.0)
    parser.add_argument("--skip", default="", help="restore or control: leave that part out")
    parser.add_argument("--env", action="append", default=[], help="a WardenSettings field=value (e.g. a TTL)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="warden-changelog-restore-"))
    extra = dict(e.split("=", 1) for e in args.env)
    settings = WardenSettings(data_dir=work / "w", embedded_broker_port=args.port or free_port(), topic_prefix="r.",
                              kafka_extra_config={"log_level": 0}, **extra)
    broker = EmbeddedBroker(settings, work).start()
    rows: list[dict[str, Any]] = []
    try:
        assert broker.storage is not None
        storage = broker.storage
        live = settings.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap, "broker_storage": "s3"})
        from warden.broker.admin import ensure_topics
        ensure_topics(live)
        watch = HistoryWatch(lambda: storage.s3_url, CLUSTER_ID, None, live.embedded_fetch_wait_ms)
        for n in (int(b) for b in args.batches.split(",")):
            row: dict[str, Any] = {"target": n}
            if "restore" not in args.skip:
                row["changelog"] = restore(live, watch, work, n)
                print(f"changelog {n}: {row['changelog']}", flush=True)
            if "control" not in args.skip:
                row["control"] = control(live, watch, n, args.switch_wait_s)
                print(f"control {n}: {row['control']}", flush=True)
            rows.append(row)
    finally:
        broker.stop()
    print(json.dumps({"cpu": cpu_model(), "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                      "load_average_1m": round(os.getloadavg()[0], 2), "rows": rows}))


if __name__ == "__main__":
    main()
