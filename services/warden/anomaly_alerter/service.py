"""The anomaly-alerter shell: agent.events and policy.decisions in, alerts out.

One consumer reads both topics; records go through a ReorderBuffer and reach the pure
``step`` in event-time order (see docs/decisions/0003-alerting-on-event-time.md), so the
live alerter and `warden replay` raise the same alerts. Crash safety: alerts are flushed to
the broker, then the whole state (rules, records still in the buffer, next offset of every
input partition) is snapshotted, then offsets are committed. After a crash the snapshot is
restored and the partitions re-read from its offsets; re-raised alerts carry the same ids,
which the ledger and the notifier's outbox land once.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import Counter, OrderedDict
from datetime import datetime

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from pydantic import BaseModel

from warden.alerting.config import load_rules
from warden.alerting.ordering import ReorderBuffer
from warden.anomaly_alerter import snapshot
from warden.anomaly_alerter.processor import LANES, AlerterState, Lane, lanes_for, sort_key, step
from warden.anomaly_alerter.settings import AnomalyAlerterSettings
from warden.broker.consume import drain
from warden.broker.produce import CheckedProducer
from warden.core import topics
from warden.core.events import AgentEvent, LlmCall, ToolCallRequested
from warden.core.records import PolicyDecision
from warden.core.wire import Wire, wire_for
from warden.cost.prices import PriceTable
from warden.state.snapshots import SnapshotStore

log = logging.getLogger("warden.anomaly_alerter")

Source = tuple[str, int]


def millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class AnomalyAlerter:
    def __init__(self, settings: AnomalyAlerterSettings) -> None:
        self.settings = settings
        self.wire: Wire = wire_for(settings)
        self.rules = load_rules(settings.alert_rules_path, settings.alert_renotify_minutes * 60)
        self.prices = PriceTable.load(settings.prices_path)
        self.store = SnapshotStore(settings.snapshot_dir)
        self.buffers = {lane: ReorderBuffer(settings.alert_lateness_ms) for lane in LANES}
        self.states = {lane: AlerterState.new(lane, self.rules, settings.call_cache_size, settings.dedupe_window)
                       for lane in LANES}
        # Tool calls whose request reached the decisions lane but whose decision has not: the lane
        # holds its event time below the oldest, so an evaluator that stalls does not make its
        # decisions late (bounded by alert_decision_wait_s of wall time).
        self.undecided: dict[str, tuple[int, float]] = {}  # call_id -> (event time ms, when seen)
        self._undecided_heap: list[tuple[int, str]] = []
        self._decided_first: OrderedDict[str, None] = OrderedDict()  # decisions read before their request
        self.offsets: dict[Source, int] = {}
        restored = snapshot.load(self.store, self.buffers)
        if restored is not None:
            self.states, self.offsets = restored
            self._rebuild_undecided()
            log.info("anomaly-alerter: state restored (%d partitions, %d records waiting)", len(self.offsets),
                     self.waiting)
        self.counters: Counter[str] = Counter()
        self.eof_at: dict[Source, float] = {}
        self.topic_names = {settings.topic(topics.AGENT_EVENTS): "warden.AgentEvent",
                            settings.topic(topics.POLICY_DECISIONS): "warden.PolicyDecision"}
        conf = settings.kafka_config()
        self.consumer = Consumer({
            **conf, "group.id": settings.group_id, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": settings.group_session_timeout_ms,
            "heartbeat.interval.ms": max(500, settings.group_session_timeout_ms // 5),
            "enable.partition.eof": True,  # a caught-up partition must stop holding back event time
            # Fewer, fuller fetches: the embedded broker's cost per fetch grows with the batches a
            # partition holds (docs/decisions/0007-embedded-broker-fetch-cost.md), and alerts already
            # wait out a 100 ms lateness allowance; idle, a fetch returns after 50 ms.
            "fetch.wait.max.ms": 50, "fetch.min.bytes": 256 * 1024,
        })
        self.producer = CheckedProducer({**conf, "enable.idempotence": True, "acks": "all", "linger.ms": 1})
        self._last_snapshot = time.monotonic()
        self._last_report = time.monotonic()
        self._dirty = False

    def start(self) -> AnomalyAlerter:
        self.consumer.subscribe(list(self.topic_names), on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("anomaly-alerter: rules from %s, re-notify every %.0f min; reading %s", self.rules.source,
                 self.settings.alert_renotify_minutes, ", ".join(self.topic_names))
        return self

    @property
    def waiting(self) -> int:
        return sum(len(b) for b in self.buffers.values())

    @property
    def late(self) -> int:
        return sum(b.late for b in self.buffers.values())

    def caught_up(self) -> bool:
        """Nothing waits and every input is idle (tests and benchmarks wait for this)."""
        return self.waiting == 0 and all(b.watermark() is None for b in self.buffers.values())

    def _lanes_of(self, topic: str) -> tuple[Lane, ...]:
        return LANES if topic == self.settings.topic(topics.AGENT_EVENTS) else ("decisions",)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            source = (tp.topic, tp.partition)
            tp.offset = self.offsets.get(source, OFFSET_BEGINNING)
            for lane in self._lanes_of(tp.topic):
                self.buffers[lane].register(source)
        consumer.assign(partitions)
        self._check_whole(consumer, partitions)

    def _check_whole(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Tenant windows need every partition: say so loudly if another replica took some (ADR 0003)."""
        try:
            metadata = consumer.list_topics(timeout=5).topics
        except Exception:  # metadata is only for this warning
            return
        for topic in self.topic_names:
            owned = {tp.partition for tp in partitions if tp.topic == topic}
            total = len(metadata[topic].partitions) if topic in metadata else 0
            if total and len(owned) < total:
                log.warning("anomaly-alerter owns %d of %d partitions of %s: another replica runs in group %s, "
                            "so tenant- and workflow-level alerts see only part of the traffic; run one replica",
                            len(owned), total, topic, self.settings.group_id)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.save()
        for tp in partitions:
            for buffer in self.buffers.values():
                buffer.forget((tp.topic, tp.partition))

    def price(self, event: AgentEvent, body: LlmCall) -> float | None:
        priced = self.prices.price(body, event.occurred_at)
        return priced.cost_usd if priced.known else None

    def _decode(self, msg: Message) -> BaseModel | None:
        return self.wire.decode_or_skip(msg.value(), self.topic_names[str(msg.topic())], self.counters)

    def poll_once(self) -> int:
        messages = drain(self.consumer, self.settings.batch_max_rows, 0.05)
        now = time.monotonic()
        for msg in messages:
            source = (str(msg.topic()), int(msg.partition() or 0))
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self.eof_at.setdefault(source, now)
                else:
                    self.counters["consumer_errors"] += 1
                continue
            self.eof_at.pop(source, None)
            self.offsets[source] = int(msg.offset() or 0) + 1
            self._dirty = True
            record = self._decode(msg)
            if record is None:
                continue
            at, rank, ident = sort_key(record)
            self._track_decision(record, millis(at), now)
            for lane in lanes_for(record):
                self.buffers[lane].push(source, millis(at), rank, ident, (source, record))
            # a lane this record does not feed still learns how far event time has got on its source
            for lane in self._lanes_of(source[0]):
                if lane not in lanes_for(record):
                    self.buffers[lane].advance(source, millis(at))
        for source, since in self.eof_at.items():
            if now - since >= self.settings.alert_idle_after_s:
                for buffer in self.buffers.values():
                    buffer.set_idle(source, True)
        produced = self.process("events", self.buffers["events"].release())
        produced += self.process("decisions", self.buffers["decisions"].release(before=self._decisions_hold(now)))
        if produced:
            self.producer.flush_or_raise(30, "alerts (state not saved)")
        if time.monotonic() - self._last_snapshot >= self.settings.snapshot_interval_s:
            self.save()
        self.counters["events"] += len(messages)
        if now - self._last_report >= 10.0:
            self._last_report = now
            self.report()
        return len(messages)

    def report(self) -> None:
        """What on-call needs to trust the alerter: throughput, what waits in the buffer and why."""
        lanes = []
        for lane, buffer in self.buffers.items():
            mark = buffer.watermark()
            behind = (time.time() * 1000 - mark) / 1000 if mark is not None and mark > 0 else 0.0
            holding = sorted(str(s) for s, newest in buffer.newest.items() if s not in buffer.idle and mark is not None
                             and (newest is None or newest - buffer.lateness_ms == mark))
            lanes.append(f"{lane} lane: {len(buffer)} waiting, released up to {behind:.1f} s before now"
                         + (f" (held by {', '.join(holding[:3])})" if holding else "") + f", {buffer.late} late")
        log.info("anomaly-alerter: %d records read, %d processed, %d alerts, %d undecodable, %d tool calls awaiting "
                 "their decision (%d given up on); %s", self.counters["events"], self.counters["processed"],
                 self.counters["alerts"], self.counters["skipped_invalid"], len(self.undecided),
                 self.counters["decisions_not_seen"], "; ".join(lanes))

    def _track_decision(self, record: BaseModel, time_ms: int, now: float) -> None:
        if isinstance(record, PolicyDecision):
            if self.undecided.pop(record.call_id, None) is None:
                self._decided_first[record.call_id] = None
                while len(self._decided_first) > self.settings.call_cache_size:
                    self._decided_first.popitem(last=False)
        elif isinstance(record, AgentEvent) and isinstance(record.body, ToolCallRequested):
            call_id = record.body.call_id
            if self._decided_first.pop(call_id, 0) is None:
                return
            self.undecided[call_id] = (time_ms, now)
            heapq.heappush(self._undecided_heap, (time_ms, call_id))

    def _decisions_hold(self, now: float) -> int | None:
        """The oldest undecided call's event time, after dropping decided ones and ones waited on too long."""
        heap = self._undecided_heap
        while heap:
            time_ms, call_id = heap[0]
            entry = self.undecided.get(call_id)
            if entry is None or entry[0] != time_ms:
                heapq.heappop(heap)
                continue
            if now - entry[1] > self.settings.alert_decision_wait_s:
                heapq.heappop(heap)
                del self.undecided[call_id]
                self.counters["decisions_not_seen"] += 1
                continue
            return time_ms
        return None

    def _rebuild_undecided(self) -> None:
        """After a restore: the requests waiting in the decisions lane whose decision is not there yet."""
        now = time.monotonic()
        records = [item for _, _, _, _, (_, item) in self.buffers["decisions"].heap]
        for record in records:
            if isinstance(record, AgentEvent):
                self._track_decision(record, millis(record.occurred_at), now)
        for record in records:
            if isinstance(record, PolicyDecision):
                self._track_decision(record, 0, now)

    def process(self, lane: Lane, released: list[tuple[Source, BaseModel]]) -> int:
        produced = 0
        topic = self.settings.topic(topics.ALERTS)
        for _, record in released:
            try:
                self.states[lane], alerts = step(self.states[lane], self.rules, record, self.price)
            except Exception:  # one poison record must not stop every page
                log.exception("record %s could not be evaluated by the alert rules; skipped",
                              getattr(record, "event_id", "?"))
                self.counters["evaluation_failures"] += 1
                continue
            for alert in alerts:
                self.producer.produce(topic, self.wire.encode(alert), key=alert.tenant_id.encode())
                produced += 1
                log.info("alert %s %s %s/%s count=%d: %s", alert.status, alert.kind.value, alert.tenant_id,
                         alert.workflow, alert.count, alert.summary)
        self.counters["processed"] += len(released)
        self.counters["alerts"] += produced
        return produced

    def save(self) -> None:
        """Alerts flushed first, then the snapshot, then the offsets it covers are committed."""
        self._last_snapshot = time.monotonic()
        if not self._dirty:
            return
        self.producer.flush_or_raise(30, "alerts (state not saved)")
        snapshot.save(self.store, self.states, self.buffers, self.offsets)
        self._dirty = False
        owned = [TopicPartition(t, p, o) for (t, p), o in self.offsets.items()]
        if owned:
            try:
                self.consumer.commit(offsets=owned, asynchronous=True)
            except Exception as exc:  # the snapshot, not the group offset, is what a restart resumes from
                log.warning("offset commit failed (the snapshot holds the offsets): %s", exc)

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.poll_once()
            self.save()
        finally:
            self.close()

    def close(self) -> None:
        self.producer.close(10)
        self.consumer.close()


def run_service(settings: AnomalyAlerterSettings, stop: threading.Event) -> None:
    AnomalyAlerter(settings).start().run(stop)
