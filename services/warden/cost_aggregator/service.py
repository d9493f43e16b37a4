"""The cost-aggregator shell: agent.events in, cost.rollups (and budget alerts, kill switches) out.

Stage one keeps one SpendState per assigned partition, snapshotted with its input offset
(warden.state); a restart, kill -9 included, reloads the snapshot and re-reads from there, and
re-produced rollups carry the same ids, which the ledger lands once. A quiet partition's open
windows are flushed on the wall clock; that state change has no input offset to re-read, so its
rows are written into the snapshot (an outbox) before they are produced, and produced again
after a crash. Stage two reads every partition of cost.rollups for budgets and regression.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from warden.broker.consume import drain, position, records
from warden.broker.produce import CheckedProducer
from warden.core import topics
from warden.core.errors import WardenError
from warden.core.events import AgentEvent
from warden.core.loop import run_until
from warden.core.output import Output
from warden.core.records import Alert, Control, CostRollup
from warden.core.seen import SeenIds
from warden.core.wire import Wire, wire_for
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.cost.tracker import TrackerState, track
from warden.cost.windows import SpendWindows
from warden.cost_aggregator.processor import SpendState, flush, step
from warden.cost_aggregator.settings import CostAggregatorSettings
from warden.state.checkpoints import Checkpoints
from warden.state.snapshots import SnapshotStore

log = logging.getLogger("warden.cost_aggregator")
_RECORDS: dict[str, type[CostRollup] | type[Alert] | type[Control]] = {
    c.__name__: c for c in (CostRollup, Alert, Control)}


def encode_outputs(outputs: list[Output]) -> list[dict[str, Any]]:
    return [{"topic": o.topic, "key": o.key, "type": type(o.record).__name__,
             "record": o.record.model_dump(mode="json")} for o in outputs]


def decode_outputs(data: list[dict[str, Any]]) -> list[Output]:
    return [Output(d["topic"], d["key"], _RECORDS[d["type"]].model_validate(d["record"])) for d in data]


class CostAggregator:
    def __init__(self, settings: CostAggregatorSettings) -> None:
        self.settings = settings
        self.wire: Wire = wire_for(settings)
        self.prices = PriceTable.load(settings.prices_file)
        self.budgets = BudgetConfig.load(settings.budgets_file)
        self.counters: Counter[str] = Counter()
        self.unpriced_models: set[str] = set()
        self.store = SnapshotStore(settings.snapshot_dir)
        self.states: dict[int, SpendState] = {}
        self.outbox: dict[int, list[Output]] = {}
        self.quiet_since: dict[int, float] = {}
        self.events_topic = settings.topic(topics.AGENT_EVENTS)
        self.rollups_topic = settings.topic(topics.COST_ROLLUPS)
        conf = settings.kafka_config()
        self.producer = CheckedProducer({**settings.producer_config(), "enable.idempotence": True, "acks": "all",
                                  "linger.ms": 5})
        self.events = Consumer({
            **conf, "group.id": settings.group_id, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": settings.group_session_timeout_ms,
            "heartbeat.interval.ms": max(500, settings.group_session_timeout_ms // 5), "fetch.wait.max.ms": 50,
        })
        self.checkpoints = Checkpoints(self.store, self.events, self._restore, self._dump, self._flush,
                                       settings.snapshot_every_s)
        self.tracker = TrackerState(seen=SeenIds(settings.rollup_dedupe_window))
        self.tracker_offsets: dict[int, int] = {}
        self._tracker_saved: dict[int, int] = {}
        self._tracker_last_save = time.monotonic()
        self.rollups: Consumer | None = None
        if settings.budgets_enabled:
            self.rollups = Consumer({**conf, "group.id": f"{settings.group_id}-budgets",
                                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                     "fetch.wait.max.ms": 50})

    # -- stage one: per-partition spend windows ------------------------------------------------

    def _restore(self, topic: str, partition: int, saved: Any) -> None:
        if saved is None:
            self.states[partition] = SpendState(
                SpendWindows(f"p{partition}", int(self.settings.lateness_s * 1000)), self.settings.run_cache_size,
                seen=SeenIds(self.settings.dedupe_window))
            return
        self.states[partition] = SpendState.from_json(saved["spend"], self.settings.dedupe_window)
        pending = decode_outputs(saved["outbox"])
        if pending:  # flushed rows whose delivery the crash may have cut short: same ids again
            log.info("%s[%d]: re-producing %d flushed rows from the snapshot", topic, partition, len(pending))
            self._produce(pending)

    def _dump(self, topic: str, partition: int) -> Any:
        return {"spend": self.states[partition].to_json(),
                "outbox": encode_outputs(self.outbox.get(partition, []))}

    def _produce(self, outputs: list[Output]) -> None:
        for out in outputs:
            record = out.record
            if isinstance(record, CostRollup) and record.unpriced_calls and record.model not in self.unpriced_models:
                self.unpriced_models.add(record.model)
                log.warning("model %r is missing from price table %s: its calls are counted as unpriced_calls, "
                            "not priced at $0; add it to %s", record.model, self.prices.digest,
                            self.settings.prices_file)
            self.producer.produce(self.settings.topic(out.topic), self.wire.encode(out.record),
                                  key=out.key.encode())
            self.counters[f"produced:{out.topic}"] += 1

    def _flush(self) -> None:
        """Outputs must be on the broker before a snapshot or an offset says they were made."""
        self.producer.flush_or_raise(30, "cost rollups and alerts (state not saved)")

    def start(self) -> CostAggregator:
        self.events.subscribe([self.events_topic], on_assign=self.checkpoints.on_assign,
                              on_revoke=self.checkpoints.on_revoke, on_lost=self.checkpoints.on_lost)
        if self.rollups is not None:
            self._assign_rollups()
        log.info("cost-aggregator: prices %s, budgets %s, budgets tracking %s", self.prices.digest,
                 self.budgets.version, "on" if self.rollups else "off")
        return self

    def _decode(self, msg: Message, expected: str) -> Any:
        return self.wire.decode_or_skip(msg.value(), expected, self.counters)

    def poll_events(self) -> int:
        messages = drain(self.events, self.settings.batch_max_rows, 0.05)
        now = time.monotonic()
        for msg in records(messages, self.counters):
            topic, partition, offset = position(msg)
            state = self.states.get(partition)
            if state is None:  # not ours any more (revoked mid-batch)
                continue
            event = self._decode(msg, "warden.AgentEvent")
            if isinstance(event, AgentEvent):
                self.states[partition], outputs = step(state, self.prices, self.budgets, event, offset)
                self._produce(outputs)
                self.counters["events"] += 1
            self.checkpoints.advance(topic, partition, offset)
            self.quiet_since[partition] = now
        self.producer.poll(0)
        return len(messages)

    def flush_quiet(self) -> None:
        now = time.monotonic()
        for partition, state in self.states.items():
            if not state.windows.open or now - self.quiet_since.get(partition, now) < self.settings.idle_flush_s:
                continue
            state, outputs = flush(state)
            self.outbox[partition] = outputs
            self.checkpoints.save(only={(self.events_topic, partition)}, force=True)
            self._produce(outputs)
            self._flush()
            self.outbox[partition] = []  # the next snapshot drops them
            self.counters["idle_flushes"] += 1

    # -- stage two: budgets and regression over every partition's rollups ---------------------

    def _tracker_snapshot_topic(self) -> str:
        return f"{self.rollups_topic}.budgets"

    def _assign_rollups(self) -> None:
        assert self.rollups is not None
        saved = self.store.load(self._tracker_snapshot_topic(), 0)
        if saved is not None:
            self.tracker = TrackerState.from_json(saved.state["tracker"], self.settings.rollup_dedupe_window)
            self.tracker_offsets = {int(p): o for p, o in saved.state["offsets"].items()}
            self._tracker_saved = dict(self.tracker_offsets)
        metadata = self.rollups.list_topics(self.rollups_topic, timeout=10).topics[self.rollups_topic]
        if metadata.error is not None:
            raise WardenError(f"topic {self.rollups_topic} is not readable: {metadata.error}")
        self.rollups.assign([TopicPartition(self.rollups_topic, p, self.tracker_offsets.get(p, OFFSET_BEGINNING))
                             for p in metadata.partitions])

    def poll_rollups(self) -> int:
        if self.rollups is None:
            return 0
        messages = self.rollups.consume(500, 0)
        for msg in messages:
            if msg.error() is not None:
                continue
            rollup = self._decode(msg, "warden.CostRollup")
            if isinstance(rollup, CostRollup):
                self._produce(track(self.tracker, self.budgets, rollup))
            _, partition, offset = position(msg)
            self.tracker_offsets[partition] = offset + 1
        if self.tracker_offsets != self._tracker_saved and \
                time.monotonic() - self._tracker_last_save >= self.settings.snapshot_every_s:
            self._flush()
            self.store.save(self._tracker_snapshot_topic(), 0, 0, {
                "tracker": self.tracker.to_json(), "offsets": {str(p): o for p, o in self.tracker_offsets.items()}})
            self._tracker_saved = dict(self.tracker_offsets)
            self._tracker_last_save = time.monotonic()
        return len(messages)

    # -- loop ----------------------------------------------------------------------------------

    def poll_once(self) -> int:
        handled = self.poll_events()
        self.flush_quiet()
        self.checkpoints.maybe_save()
        return handled + self.poll_rollups()

    def run(self, stop: threading.Event) -> None:
        run_until(stop, self.poll_once, self.close)

    def close(self) -> None:
        try:
            self.checkpoints.save()
        except (WardenError, KafkaException) as exc:  # the last snapshot stands; re-reading covers the rest
            log.warning("final snapshot not written: %s", exc)
        self.producer.close(10)
        self.events.close()
        if self.rollups is not None:
            self.rollups.close()


def run_service(settings: CostAggregatorSettings, stop: threading.Event) -> None:
    CostAggregator(settings).start().run(stop)
