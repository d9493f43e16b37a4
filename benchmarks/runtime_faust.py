"""faust-streaming vs Warden's runtime (issue 14 point 4): one stateful processor, the cost-aggregator's
pure `step` over SpendState, run (a) inside a faust agent whose state is a changelog-backed faust Table
and (b) on warden.runtime (the CostAggregator App, in a process of its own), on the embedded Tansu
broker, over the same pre-produced events, compared with an uninterrupted pure run of `step`.

  throughput  each runtime alone on its own copy of the events (same bytes, same partitions, same
              offsets), timed from its first event stepped to its last;
  restart     kill -9 mid-stream (after its first offset commit and half the events), restart in
              place, finish: the final totals (1-minute and 1-hour rollups, deduplicated by rollup id
              as the ledger lands them, and budget alerts) against the pure run, exact or not, and
              the time from the restart to its first event stepped;
  rebalance   member A alone, member B joins at 25 %, A is killed -9 as soon as B steps its first
              event: B's time from start to its first event, the takeover time of A's partitions, the
              final totals against the pure run. Runtime members have separate, unshared data
              directories (two hosts). For the runtime, the open windows its last checkpoints still
              hold are counted too (`held_back_rollups`, `exact_with_held_back`; ADR 0008).

The faust side is written as faust's docs show: at-least-once (aiokafka's idempotent producer fails
on Tansu: InitProducerId v0), memory store, `take_events` batches, the table written once per batch
and partition, after the batch's outputs are confirmed, so a committed offset never runs ahead of
the state. No Apache Kafka broker is installable here (see ADR 0008), so the Kafka protocol path
is Tansu only. The last line printed is one JSON object.

    .venv/bin/python benchmarks/runtime_faust.py --events 20000            # ~8 min on 2 busy cores
    .venv/bin/python benchmarks/runtime_faust.py --scenarios throughput    # ~1 min
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.output import Output
from warden.core.records import Alert, CostRollup
from warden.core.seen import SeenIds
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.cost.windows import SpendWindows
from warden.cost_aggregator.processor import SpendState, flush, step
from warden.cost_aggregator.settings import CostAggregatorSettings
from warden.demo.simulator import Simulator
from warden.supervise import child_preexec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import service_env  # a sibling script, not a package

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
DEFAULTS = CostAggregatorSettings()
BATCH = DEFAULTS.batch_max_rows
COMMIT_EVERY_S = 1.0  # both: the runtime's snapshot_every_s, faust's broker_commit_interval
IDLE_FLUSH_S = DEFAULTS.idle_flush_s
TotalKey = tuple[str, str, str, str, str, str]


# -- the reference: the pure step over each partition in offset order ---------------------------------

def initial(partition: int) -> SpendState:
    return SpendState(SpendWindows(f"p{partition}", int(DEFAULTS.lateness_s * 1000)), DEFAULTS.run_cache_size,
                      seen=SeenIds(DEFAULTS.dedupe_window))


def pure_outputs(placed: dict[int, list[AgentEvent]]) -> list[Any]:
    prices, budgets = PriceTable.load(), BudgetConfig.load()
    records: list[Any] = []
    for partition, events in sorted(placed.items()):
        state = initial(partition)
        for offset, event in enumerate(events):
            state, outputs = step(state, prices, budgets, event, offset)
            records.extend(o.record for o in outputs)
        state, outputs = flush(state)  # the idle flush both live runs end with
        records.extend(o.record for o in outputs)
    return records


@dataclass
class Totals:
    """What the ledger would hold: rollups and alerts by id (the last copy), summed per window key."""

    sums: dict[TotalKey, tuple[float, ...]]
    rollup_ids: set[str]
    alert_ids: set[str]
    copies: int  # records delivered more than once with the same id and content (harmless)
    conflicts: int  # ids delivered twice with different content (a wrong count somewhere)


def totals(records: list[Any]) -> Totals:
    by_id: dict[str, CostRollup] = {}
    alerts: set[str] = set()
    copies = conflicts = 0
    for record in records:
        if isinstance(record, Alert):
            alerts.add(record.alert_id)
            continue
        assert isinstance(record, CostRollup)
        before = by_id.get(record.rollup_id)
        if before is not None:
            copies += before == record
            conflicts += before != record
        by_id[record.rollup_id] = record
    sums: dict[TotalKey, list[float]] = defaultdict(lambda: [0.0] * 8)
    for r in by_id.values():
        row = sums[(r.window, r.window_start.isoformat(), r.tenant_id, r.workflow, r.model, r.route)]
        for i, value in enumerate((r.calls, r.input_tokens, r.output_tokens, r.cached_tokens, r.cost_usd,
                                   r.runs_completed, r.runs_succeeded, r.runs_over_ceiling)):
            row[i] += value
    rounded = {k: tuple(round(v, 9) for v in row) for k, row in sums.items()}
    return Totals(rounded, set(by_id), alerts, copies, conflicts)


def compare(found: Totals, expected: Totals) -> dict[str, Any]:
    keys = set(found.sums) | set(expected.sums)
    wrong = sum(found.sums.get(k) != expected.sums.get(k) for k in keys)
    cost = round(sum(v[4] for k, v in found.sums.items() if k[0] == "1m"), 6)
    want = round(sum(v[4] for k, v in expected.sums.items() if k[0] == "1m"), 6)
    calls = sum(v[0] for k, v in found.sums.items() if k[0] == "1m")
    want_calls = sum(v[0] for k, v in expected.sums.items() if k[0] == "1m")
    return {"exact": wrong == 0 and found.alert_ids == expected.alert_ids and not found.conflicts,
            "window_keys_wrong": wrong, "window_keys": len(expected.sums), "cost_usd": cost,
            "expected_cost_usd": want, "calls": int(calls), "expected_calls": int(want_calls),
            "alerts": len(found.alert_ids), "expected_alerts": len(expected.alert_ids),
            "same_rollup_ids": found.rollup_ids == expected.rollup_ids, "duplicate_copies": found.copies,
            "conflicting_ids": found.conflicts}


# -- the broker side: inputs, outputs, group offsets -------------------------------------------------

def produce_inputs(settings: WardenSettings, events: list[AgentEvent]) -> dict[int, list[AgentEvent]]:
    """The same events to this prefix's agent.events, keyed by run id (murmur2, as the SDK does); the
    delivery reports give each event's partition and offset (end offsets are never trusted on Tansu)."""
    wire = wire_for(settings)
    producer = Producer({**settings.producer_config(), "enable.idempotence": True, "acks": "all",
                         "linger.ms": 20})
    where: dict[int, tuple[int, int]] = {}
    failed: list[str] = []

    def report(index: int) -> Any:
        def done(err: Any, msg: Any) -> None:
            if err is not None:
                failed.append(str(err))
            else:
                where[index] = (msg.partition(), msg.offset())
        return done

    topic = settings.topic(topics.AGENT_EVENTS)
    for i, event in enumerate(events):
        while True:
            try:
                producer.produce(topic, wire.encode(event), key=event.run_id.encode(), on_delivery=report(i))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(60) or failed:
        raise SystemExit(f"inputs not all delivered: {failed[:3]}")
    placed: dict[int, list[tuple[int, AgentEvent]]] = defaultdict(list)
    for i, (partition, offset) in where.items():
        placed[partition].append((offset, events[i]))
    result = {}
    for partition, rows in placed.items():
        rows.sort(key=lambda row: row[0])
        if [o for o, _ in rows] != list(range(len(rows))):
            raise SystemExit(f"partition {partition}: offsets are not 0..{len(rows) - 1}")
        result[partition] = [e for _, e in rows]
    return result


def read_outputs(settings: WardenSettings, quiet_s: float = 3.0) -> list[Any]:
    """Every record on this prefix's cost.rollups and alerts, read until nothing new for `quiet_s`."""
    wire = wire_for(settings)
    consumer = Consumer({**settings.kafka_config(), "group.id": f"read-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100})
    names = [settings.topic(topics.COST_ROLLUPS), settings.topic(topics.ALERTS)]
    meta = consumer.list_topics(timeout=10).topics
    consumer.assign([TopicPartition(n, p, 0) for n in names for p in meta[n].partitions])
    found: list[Any] = []
    last = time.monotonic()
    while time.monotonic() - last < quiet_s:
        for msg in consumer.consume(5000, 0.5):
            if msg.error() is None and msg.value() is not None:
                found.append(wire.decode(msg.value()))
                last = time.monotonic()
    consumer.close()
    return found


def committed(settings: WardenSettings, group: str, counts: dict[int, int]) -> dict[int, int]:
    consumer = Consumer({**settings.kafka_config(), "group.id": group, "enable.auto.commit": False})
    try:
        tps = consumer.committed([TopicPartition(settings.topic(topics.AGENT_EVENTS), p) for p in counts],
                                 timeout=10)
        return {tp.partition: max(tp.offset, 0) for tp in tps}
    finally:
        consumer.close()


# -- the workers: each a process of its own, so it can be killed -9 ----------------------------------

@dataclass
class Spec:
    kind: str  # "runtime" or "faust"
    bootstrap: str
    prefix: str
    group: str  # the runtime's group id, faust's app id (its group id too)
    data_dir: str
    stats: str
    session_timeout_s: float

    def settings(self) -> CostAggregatorSettings:
        return CostAggregatorSettings(
            kafka_bootstrap_servers=self.bootstrap, topic_prefix=self.prefix, data_dir=Path(self.data_dir),
            group_id=self.group, budgets_enabled=False, snapshot_every_s=COMMIT_EVERY_S, idle_flush_s=IDLE_FLUSH_S,
            batch_max_rows=BATCH, group_session_timeout_ms=int(self.session_timeout_s * 1000),
            kafka_extra_config={"log_level": 0})


@dataclass
class Stats:
    """Written by a worker as it goes (wall clock, so the parent can compare across processes)."""

    path: str
    started: float = field(default_factory=time.time)
    events: int = 0
    first: float | None = None
    last: float | None = None
    parts: dict[int, list[float]] = field(default_factory=dict)  # partition -> [first, last] event times here
    assigned: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def touch(self, partition: int, now: float) -> None:
        self.parts.setdefault(partition, [now, now])[1] = now

    def stepped(self, partition: int, now: float) -> None:
        self.events += 1
        self.first = self.first or now
        self.last = now
        self.touch(partition, now)

    def write(self) -> None:
        tmp = f"{self.path}.tmp"
        with open(tmp, "w") as out:
            json.dump({"started": self.started, "events": self.events, "first": self.first, "last": self.last,
                       "parts": self.parts, "assigned": self.assigned, **self.extra}, out)
        os.replace(tmp, self.path)


def runtime_worker(spec: Spec) -> None:
    """warden.runtime's CostAggregator, as `warden run cost-aggregator` runs it, polled here to record stats."""
    from warden.cost_aggregator.service import CostAggregator

    stats = Stats(spec.stats)
    service = CostAggregator(spec.settings()).start()
    task = service.spend
    topic = spec.settings().topic(topics.AGENT_EVENTS)
    positions: dict[int, int] = {}
    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    wrote = 0.0
    try:
        while not stop:
            before = service.counters["events"]
            service.poll_once()
            now = time.time()
            if service.counters["events"] > before:
                for partition, slot in task.slots.items():
                    position = slot.positions.get((topic, partition))
                    if position is not None and position != positions.get(partition):
                        stats.touch(partition, now)
                        positions[partition] = position
                stats.events = service.counters["events"]
                stats.first = stats.first or now
                stats.last = now
            if now - wrote > 0.2:
                stats.assigned = sorted(p for _, p in task.assigned)
                stats.extra["idle_flushes"] = service.counters["idle_flushes"]
                stats.write()
                wrote = now
    finally:
        service.close()


def faust_worker(spec: Spec) -> None:
    """The same step inside a faust agent; the per-partition SpendState lives in a faust Table."""
    import faust

    settings = spec.settings()
    wire = wire_for(settings)
    prices, budgets = PriceTable.load(), BudgetConfig.load()
    stats = Stats(spec.stats)
    app = faust.App(
        spec.group, broker=f"kafka://{spec.bootstrap}", store="memory://",
        processing_guarantee="at_least_once",  # exactly_once needs aiokafka's transactional producer: fails on Tansu
        broker_session_timeout=spec.session_timeout_s, broker_heartbeat_interval=max(0.5, spec.session_timeout_s / 5),
        broker_commit_interval=COMMIT_EVERY_S, topic_replication_factor=1, topic_disable_leader=True,
        web_enabled=False, table_standby_replicas=0, consumer_auto_offset_reset="earliest",
        producer_max_request_size=16 * 2**20, consumer_max_fetch_size=16 * 2**20)
    source = app.topic(settings.topic(topics.AGENT_EVENTS), key_serializer="raw", value_serializer="raw")
    outs = {name: app.topic(settings.topic(name), key_serializer="raw", value_serializer="raw")
            for name in (topics.COST_ROLLUPS, topics.ALERTS)}
    table = app.Table("spend", default=None)  # keys (partition numbers) and values in JSON
    states: dict[int, tuple[Any, SpendState]] = {}  # partition -> (the table value it came from, state)
    quiet: dict[int, float] = {}
    in_topic = settings.topic(topics.AGENT_EVENTS)

    def load(partition: int) -> SpendState:
        doc = table.data.get(partition)
        cached = states.get(partition)
        if cached is not None and cached[0] is doc:
            return cached[1]
        state = initial(partition) if doc is None else SpendState.from_json(doc, DEFAULTS.dedupe_window)
        stats.extra["restored"] = stats.extra.get("restored", 0) + (doc is not None)
        states[partition] = (doc, state)
        return state

    def put(partition: int, state: SpendState) -> None:
        # one changelog record per partition and batch, sent to the source partition's changelog
        # partition explicitly (the batch's current event may be another partition's)
        doc = state.to_json()
        table.data[partition] = doc
        table.send_changelog(partition, partition, doc)
        states[partition] = (doc, state)
        stats.extra["changelog_writes"] = stats.extra.get("changelog_writes", 0) + 1

    async def send(outputs: list[Output]) -> list[Any]:
        return [await outs[o.topic].send(key=o.key.encode(), value=wire.encode(o.record)) for o in outputs]

    @app.agent(source)
    async def aggregate(stream: Any) -> None:
        async for batch in stream.take_events(BATCH, within=0.05):
            pending: list[Any] = []
            touched: set[int] = set()
            now = time.time()
            for event in batch:
                partition, offset = event.message.partition, event.message.offset
                record = wire.decode(event.value, "warden.AgentEvent")
                assert isinstance(record, AgentEvent)
                state, outputs = step(load(partition), prices, budgets, record, offset)
                states[partition] = (states[partition][0], state)
                pending.extend(await send(outputs))
                touched.add(partition)
                quiet[partition] = now
                stats.stepped(partition, now)
            for future in pending:  # outputs confirmed before the state that says they were made
                await future
            for partition in touched:
                put(partition, states[partition][1])

    assigned_before: set[int] = set()

    @app.timer(0.5)
    async def idle_and_stats() -> None:
        now = time.time()
        assigned = {tp.partition for tp in app.consumer.assignment() if tp.topic == in_topic}
        for partition in assigned - assigned_before:  # restored state may hold open windows: flush them when quiet too
            quiet[partition] = now
        assigned_before.clear()
        assigned_before.update(assigned)
        stats.assigned = sorted(assigned)
        stats.write()
        if app.rebalancing or app.in_recovery:  # the table is not complete yet
            return
        for partition in sorted(assigned):
            if now - quiet.get(partition, now) < IDLE_FLUSH_S:
                continue
            state = load(partition)
            if not state.windows.open:
                continue
            state, outputs = flush(state)
            for future in await send(outputs):
                await future
            put(partition, state)
            stats.extra["idle_flushes"] = stats.extra.get("idle_flushes", 0) + 1

    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


# -- the parent: scenarios ---------------------------------------------------------------------------

@dataclass
class Run:
    spec: Spec
    process: subprocess.Popen[bytes]
    spawned: float

    def stats(self) -> dict[str, Any]:
        try:
            with open(self.spec.stats) as f:
                found: dict[str, Any] = json.load(f)
                return found
        except (FileNotFoundError, json.JSONDecodeError):
            return {"events": 0, "first": None, "parts": {}, "assigned": []}

    def kill(self) -> float:
        self.process.kill()
        self.process.wait()
        return time.time()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Stalled(Exception):
    """A worker stopped making progress: the scenario reports it instead of a figure."""


class Bench:
    def __init__(self, broker: TansuBroker, work: Path, events: list[AgentEvent], session_timeout_s: float) -> None:
        self.broker = broker
        self.work = work
        self.events = events
        self.session_timeout_s = session_timeout_s
        self.expected: Totals | None = None
        self.counts: dict[int, int] = {}
        self.runs: list[Run] = []
        self.registry = work / "registry"
        self.last_group: tuple[WardenSettings, str] = (WardenSettings(), "")

    def prepare(self, name: str) -> WardenSettings:
        """A fresh prefix holding its own copy of the events; the reference is computed from the first."""
        settings = WardenSettings(data_dir=self.registry, kafka_bootstrap_servers=self.broker.bootstrap,
                                  topic_prefix=f"{name}.{uuid.uuid4().hex[:4]}.", kafka_extra_config={"log_level": 0})
        ensure_topics(settings)
        placed = produce_inputs(settings, self.events)
        counts = {p: len(e) for p, e in placed.items()}
        if self.expected is None:
            outputs = pure_outputs(placed)
            self.expected, self.counts = totals(outputs), counts
            wire = wire_for(settings)
            for kind in (CostRollup, Alert):  # registered now, so no worker ever writes the shared file
                wire.encode(next(o for o in outputs if isinstance(o, kind)))
        elif counts != self.counts:
            raise SystemExit(f"{name}: events landed {counts}, not {self.counts} as before")
        return settings

    def spawn(self, kind: str, settings: WardenSettings, group: str, member: str) -> Run:
        self.last_group = (settings, group)
        data = self.work / f"{group}-{member}"
        data.mkdir(parents=True, exist_ok=True)
        for name in ("schema-registry.json", "schema-registry.lock"):  # the one registry all hosts would share
            if not (data / name).exists():
                (data / name).symlink_to(self.registry / name)
        spec = Spec(kind, self.broker.bootstrap, settings.topic_prefix, group, str(data),
                    str(data / "stats.json"), self.session_timeout_s)
        if os.path.exists(spec.stats):
            os.remove(spec.stats)
        log = open(data / "worker.log", "ab")  # noqa: SIM115 (the child writes it; closed with the run)
        spawned = time.time()
        env = service_env(WardenSettings(data_dir=data, kafka_bootstrap_servers=self.broker.bootstrap,
                                         topic_prefix=settings.topic_prefix))  # none of the caller's WARDEN_*
        process = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec.__dict__)], env=env,
                                   stdout=log, stderr=subprocess.STDOUT, cwd=str(data), preexec_fn=child_preexec)
        log.close()
        run = Run(spec, process, spawned)
        self.runs.append(run)
        return run

    def wait(self, what: str, done: Any, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise Stalled(f"nothing after {timeout_s:g} s waiting for {what}")
            for run in self.runs:
                if run.process.poll() not in (None, -9, 0, -15):
                    raise SystemExit(f"{run.spec.kind} worker exited {run.process.returncode}: "
                                     f"see {Path(run.spec.data_dir) / 'worker.log'}")
            time.sleep(0.1)

    def total(self) -> int:
        return sum(self.counts.values())

    def finish(self, settings: WardenSettings, group: str, last: Run) -> dict[str, Any]:
        """Wait for every offset to be committed and the idle flush, then compare the outputs. For the
        runtime, also with the open windows its last member's checkpoints still hold (held back, not lost)."""
        self.wait("every offset committed", lambda: committed(settings, group, self.counts) == self.counts)
        caught_up = time.time()
        time.sleep(IDLE_FLUSH_S + 2)
        assert self.expected is not None
        found = read_outputs(settings)
        result = {"caught_up_at": caught_up, **compare(totals(found), self.expected)}
        if last.spec.kind == "runtime":
            held = held_back(last.spec)
            result["held_back_rollups"] = len(held)
            result["exact_with_held_back"] = compare(totals(found + held), self.expected)["exact"]
        return result

    def stop_all(self) -> None:
        for run in self.runs:
            run.stop()
        self.runs.clear()

    # the scenarios

    def throughput(self, kind: str) -> dict[str, Any]:
        settings = self.prepare(f"tp-{kind}")
        group = f"{kind}-tp-{uuid.uuid4().hex[:6]}"
        run = self.spawn(kind, settings, group, "a")
        self.wait(f"{kind} to step every event", lambda: run.stats()["events"] >= self.total())
        s = run.stats()
        rate = self.total() / max(1e-9, s["last"] - s["first"])
        result = {"events_per_s": round(rate), "start_to_first_event_s": round(s["first"] - run.spawned, 2)}
        result.update(self.finish(settings, group, run))
        result.pop("caught_up_at")
        result.update({k: v for k, v in run.stats().items() if k in ("changelog_writes", "idle_flushes")})
        if kind == "faust":
            result.update(changelog_size(settings, f"{group}-spend-changelog"))
        self.stop_all()
        return result

    def restart(self, kind: str) -> dict[str, Any]:
        settings = self.prepare(f"rs-{kind}")
        group = f"{kind}-rs-{uuid.uuid4().hex[:6]}"
        run = self.spawn(kind, settings, group, "a")
        half = self.total() // 2
        self.wait(f"{kind}: half the events and a commit", lambda: run.stats()["events"] >= half
                  and sum(committed(settings, group, self.counts).values()) > 0)
        at = run.stats()["events"]
        done_at_kill = sum(committed(settings, group, self.counts).values())
        run.kill()
        self.runs.remove(run)
        again = self.spawn(kind, settings, group, "a")
        self.wait(f"{kind}: first event after the restart", lambda: again.stats()["first"] is not None)
        s = again.stats()
        result: dict[str, Any] = {"killed_after_events": at, "committed_at_kill": done_at_kill,
                                  "restart_to_first_event_s": round(s["first"] - again.spawned, 2)}
        result.update(self.finish(settings, group, again))
        result["restart_to_caught_up_s"] = round(result.pop("caught_up_at") - again.spawned, 2)
        s = again.stats()
        result["events_stepped_after_restart"] = s["events"]
        result["restored_partitions"] = s.get("restored", None)
        if kind == "faust":
            result.update(changelog_size(settings, f"{group}-spend-changelog"))
        self.stop_all()
        return result

    def rebalance(self, kind: str) -> dict[str, Any]:
        settings = self.prepare(f"rb-{kind}")
        group = f"{kind}-rb-{uuid.uuid4().hex[:6]}"
        a = self.spawn(kind, settings, group, "a")
        self.wait(f"{kind}: A at 25 %", lambda: a.stats()["events"] >= 0.25 * self.total())
        b = self.spawn(kind, settings, group, "b")
        self.wait(f"{kind}: B's first event", lambda: b.stats()["first"] is not None)
        joined = b.stats()["first"] - b.spawned
        owned = set(a.stats()["assigned"])
        done = committed(settings, group, self.counts)
        remaining = sorted(p for p in owned if done.get(p, 0) < self.counts[p])
        killed = a.kill()  # mid-stream for A's partitions still to finish (remaining)
        self.runs.remove(a)
        waiting = remaining if kind == "faust" else sorted(owned)  # the runtime re-reads them from 0 (no snapshot)

        def taken() -> list[float]:
            parts = b.stats()["parts"]
            return [parts[str(p)][1] for p in waiting if str(p) in parts and parts[str(p)][1] > killed]

        self.wait(f"{kind}: B takes A's partitions {waiting}", lambda: len(taken()) == len(waiting))
        takeover = taken()
        result: dict[str, Any] = {"b_start_to_first_event_s": round(joined, 2), "a_owned_at_kill": sorted(owned),
                                  "a_unfinished_at_kill": remaining,
                                  "takeover_s": round(max(takeover) - killed, 2) if takeover else None}
        result.update(self.finish(settings, group, b))
        result["kill_to_caught_up_s"] = round(result.pop("caught_up_at") - killed, 2)
        result["b_events_stepped"] = b.stats()["events"]
        if kind == "faust":
            result.update(changelog_size(settings, f"{group}-spend-changelog"))
        self.stop_all()
        return result


def held_back(spec: Spec) -> list[Any]:
    """The rollups a runtime checkpoint still holds in open windows (what its next idle flush would emit)."""
    from warden.runtime.store import from_document
    from warden.state.snapshots import SnapshotStore

    settings = spec.settings()
    store = SnapshotStore(settings.snapshot_dir)
    rows: list[Any] = []
    for partition in range(topics.PARTITIONS[topics.AGENT_EVENTS]):
        snapshot = store.load(settings.topic(topics.AGENT_EVENTS), partition)
        if snapshot is not None:
            state = SpendState.from_json(from_document(snapshot.state, 0).state, DEFAULTS.dedupe_window)
            rows.extend(o.record for o in flush(state)[1])
    return rows


def changelog_size(settings: WardenSettings, name: str) -> dict[str, Any]:
    """Records and bytes in faust's changelog, and how many partitions Tansu reports a wrong end for
    (ListOffsets "latest" is the first offset of the last batch + 1): faust recovers up to that end."""
    consumer = Consumer({**settings.kafka_config(), "group.id": f"cl-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    meta = consumer.list_topics(timeout=10).topics
    if name not in meta:
        return {"changelog": f"{name} not found"}
    consumer.assign([TopicPartition(name, p, 0) for p in meta[name].partitions])
    ends: Counter[int] = Counter()
    size, last = 0, time.monotonic()
    while time.monotonic() - last < 2:
        for msg in consumer.consume(1000, 0.5):
            if msg.error() is None:
                ends[msg.partition() or 0] = (msg.offset() or 0) + 1
                size += len(msg.value() or b"")
                last = time.monotonic()
    wrong = sum(consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] != ends[p] for p in ends)
    consumer.close()
    return {"changelog_records": sum(ends.values()), "changelog_mb": round(size / 2**20, 1),
            "changelog_partitions_wrong_end": wrong}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--session-timeout-s", type=float, default=DEFAULTS.group_session_timeout_ms / 1000,
                        help="the group session timeout of both runtimes")
    parser.add_argument("--scenarios", default="throughput,restart,rebalance")
    parser.add_argument("--kinds", default="runtime,faust")
    parser.add_argument("--work", type=Path, help="keep the workers' logs and data here (default: a temporary dir)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = Spec(**json.loads(args.child))
        (faust_worker if spec.kind == "faust" else runtime_worker)(spec)
        return
    events = list(Simulator(5, START, "bench").events(args.events))[:args.events]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{len(events):,} events, session timeout {args.session_timeout_s:g} s, commit every {COMMIT_EVERY_S:g} s")
    result: dict[str, Any] = {"events": len(events), "broker": "tansu"}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        with TansuBroker(free_port(), log_path=work / "tansu.log") as broker:
            bench = Bench(broker, work, events, args.session_timeout_s)
            try:
                for scenario in args.scenarios.split(","):
                    for kind in args.kinds.split(","):
                        try:
                            found = getattr(bench, scenario)(kind)
                        except Stalled as exc:
                            found = {"stalled": str(exc), "committed": committed(*bench.last_group, bench.counts),
                                     "expected_offsets": bench.counts}
                        finally:
                            bench.stop_all()
                        result[f"{scenario}_{kind}"] = found
                        print(f"{scenario:>10} {kind:>7}: {json.dumps(found)}", flush=True)
            finally:
                bench.stop_all()
    if "throughput_runtime" in result and "throughput_faust" in result:
        result["faust_over_runtime"] = round(result["throughput_faust"]["events_per_s"]
                                             / result["throughput_runtime"]["events_per_s"], 3)
        print(f"throughput: runtime {result['throughput_runtime']['events_per_s']:,} events/s, faust "
              f"{result['throughput_faust']['events_per_s']:,} events/s, faust/runtime "
              f"{result['faust_over_runtime']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
