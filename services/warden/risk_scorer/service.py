"""The risk-scorer shell: agent.events and policy.decisions in, risk.scores and routed approvals out.

agent.events is consumed in a group; for every partition p it owns, the shell also reads
policy.decisions partition p with a second, manually assigned consumer (both topics are keyed
by run_id with the same partitioner and partition count, so a call's decision is on the same
partition number as the call). State is per partition and checkpointed by the shared snapshot
store: a snapshot holds the partition's state, the next agent.events offset (the snapshot's own)
and the next policy.decisions offset. After a crash the partition is restored and both topics
are re-read from there; every output carries a deterministic id (the event's id, or the route
id of the call), so what is produced again lands once.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from warden.broker.consume import drain, records
from warden.broker.produce import CheckedProducer
from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.loop import run_until
from warden.core.records import PolicyDecision
from warden.core.wire import Wire, wire_for
from warden.risk_scorer.processor import PartitionState, RiskConfig, step
from warden.risk_scorer.settings import RiskScorerSettings
from warden.state.checkpoints import Checkpoints
from warden.state.snapshots import SnapshotStore

log = logging.getLogger("warden.risk_scorer")


class RiskScorer:
    def __init__(self, settings: RiskScorerSettings) -> None:
        self.settings = settings
        self.config: RiskConfig = settings.risk_config()
        self.wire: Wire = wire_for(settings)
        self.counters: Counter[str] = Counter()
        self.states: dict[int, PartitionState] = {}
        self.decisions_next: dict[int, int] = {}
        self.events_topic = settings.topic(topics.AGENT_EVENTS)
        self.decisions_topic = settings.topic(topics.POLICY_DECISIONS)
        conf = settings.kafka_config()
        # Tansu answers a fetch only when its max wait is up: keep it short, the SDK gate waits on us.
        self.events = Consumer({
            **conf, "group.id": settings.group_id, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": settings.group_session_timeout_ms,
            "heartbeat.interval.ms": max(500, settings.group_session_timeout_ms // 5), "fetch.wait.max.ms": 10,
        })
        self.decisions = Consumer({**conf, "group.id": f"{settings.group_id}-decisions", "enable.auto.commit": False,
                                   "auto.offset.reset": "earliest", "fetch.wait.max.ms": 10})
        self.producer = CheckedProducer({**settings.producer_config(), "enable.idempotence": True, "acks": "all",
                                  "linger.ms": 2})
        self.checkpoints = Checkpoints(SnapshotStore(settings.snapshot_dir), self.events, self._restore, self._dump,
                                       self._flush, settings.snapshot_every_s)

    def start(self) -> RiskScorer:
        self.events.subscribe([self.events_topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                              on_lost=self._on_lost)
        log.info("risk-scorer: weights %s from %s, review share %.1f%%, state in %s", self.config.weights.version,
                 self.settings.risk_weights, 100 * self.config.share, self.settings.snapshot_dir)
        return self

    # -- partitions and snapshots -------------------------------------------------------------------

    def _restore(self, topic: str, partition: int, state: Any) -> None:
        if state is None:
            self.states[partition] = PartitionState()
            self.decisions_next[partition] = OFFSET_BEGINNING
        else:
            self.states[partition] = PartitionState.from_dict(state["partition"])
            self.decisions_next[partition] = int(state["decisions_next"])

    def _dump(self, topic: str, partition: int) -> Any:
        return {"partition": self.states[partition].to_dict(), "decisions_next": self.decisions_next[partition]}

    def _flush(self) -> None:
        self.producer.flush_or_raise(30, "risk scores (no snapshot written)")

    def _follow_decisions(self) -> None:
        self.decisions.assign([TopicPartition(self.decisions_topic, p, self.decisions_next[p])
                               for p in sorted(self.states)])

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.checkpoints.on_assign(consumer, partitions)
        self._follow_decisions()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.checkpoints.on_revoke(consumer, partitions)
        self._drop(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Another member may own them already: drop the state without saving it (its snapshot stays)."""
        self.checkpoints.on_lost(consumer, partitions)
        self._drop(partitions)

    def _drop(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.states.pop(tp.partition, None)
            self.decisions_next.pop(tp.partition, None)
        self._follow_decisions()

    # -- processing ---------------------------------------------------------------------------------

    def _decode(self, msg: Message, expected: str) -> object | None:
        return self.wire.decode_or_skip(msg.value(), expected, self.counters)

    def _usable(self, msg: Message) -> bool:
        return msg.value() is not None and msg.partition() in self.states

    def _process(self, msg: Message, message: object) -> None:
        partition = msg.partition()
        assert partition is not None
        try:
            _, outputs = step(self.states[partition], self.config, message)  # type: ignore[arg-type]
        except Exception:  # one poison record must not stop every score
            log.exception("%s[%s]@%s could not be scored; skipped", msg.topic(), partition, msg.offset())
            self.counters["scoring_failures"] += 1
            return
        for out in outputs:
            self.producer.produce(self.settings.topic(out.topic), self.wire.encode(out.record),
                                  key=out.key.encode())
            self.counters[f"produced:{out.topic}"] += 1

    def poll_once(self) -> int:
        handled = 0
        if self.states:
            for msg in records(self.decisions.consume(self.settings.batch_max_rows, 0), self.counters):
                if not self._usable(msg):
                    continue
                record = self._decode(msg, "warden.PolicyDecision")
                if isinstance(record, PolicyDecision):
                    self._process(msg, record)
                self.decisions_next[msg.partition() or 0] = (msg.offset() or 0) + 1
                handled += 1
        for msg in records(drain(self.events, self.settings.batch_max_rows, 0.01), self.counters):
            if not self._usable(msg):
                continue
            event = self._decode(msg, "warden.AgentEvent")
            if isinstance(event, AgentEvent):
                self._process(msg, event)
            self.checkpoints.advance(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
            handled += 1
        self.producer.poll(0)
        self.checkpoints.maybe_save()
        self.counters["records"] += handled
        return handled

    def run(self, stop: threading.Event) -> None:
        run_until(stop, self.poll_once, self.close)

    def close(self) -> None:
        try:
            self.checkpoints.save()
        finally:
            self.events.close()  # revokes: the shell saves what it owns once more
            self.decisions.close()
            self.producer.close(10)


def run_service(settings: RiskScorerSettings, stop: threading.Event) -> None:
    RiskScorer(settings).start().run(stop)
