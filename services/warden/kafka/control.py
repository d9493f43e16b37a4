"""The control topic: setting switches (CLI, HTTP later) and a local, always-current view of them.

The view is what makes `is_enabled` cheap: one consumer per process reads the compacted topic
from the beginning and keeps the latest record per key in memory, so a check is a dictionary
lookup, not a round trip.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from warden.core import topics
from warden.core.errors import BrokerUnavailableError, DecodeError, ValidationError
from warden.core.records import Control, ControlKind
from warden.core.rollout_book import RolloutBook
from warden.core.settings import WardenSettings
from warden.core.switches import Switches
from warden.core.wire import validate, wire_for
from warden.kafka import clients
from warden.kafka.configs import Fetch
from warden.kafka.consume import drain


def publish(settings: WardenSettings, kind: ControlKind, scope: str, active: bool, actor: str,
            reason: str) -> Control:
    """Set or clear one switch; the record is the audit trail (the ledger lands it too)."""
    control = validate(Control, {"kind": kind, "scope": scope, "active": active, "actor": actor,
                                 "reason": reason, "at": datetime.now(UTC)})
    return publish_control(settings, control, control.key, f"switch {control.key}")


def publish_control(settings: WardenSettings, control: Control, key: str, what: str) -> Control:
    """Any record of the control topic (a switch, a rollout command), delivered before this returns."""
    producer = clients.producer(settings)
    value = wire_for(settings).encode(control)
    try:
        producer.produce(settings.topic(topics.CONTROL), value, key=key.encode())
    except KafkaException as exc:  # refused before it left: a record too large for the broker, a full queue
        error = exc.args[0]
        if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            raise ValidationError(f"{what}: the control record is {len(value):,} bytes, more than the producer's "
                                  "message.max.bytes; shorten its reason") from exc
        raise BrokerUnavailableError(f"{what} not published (Kafka at {settings.bootstrap_servers}): "
                                     f"{error.str()}") from exc
    producer.flush_or_raise(15, f"{what} (Kafka at {settings.bootstrap_servers})")
    return control


class ControlView:
    """Switches and rollout stages as the control topic says, kept current by a daemon thread."""

    def __init__(self, settings: WardenSettings) -> None:
        self.switches = Switches()
        self.rollouts = RolloutBook()
        self.caught_up = threading.Event()  # the whole topic as it was at start has been read
        self.skipped = 0
        self._wire = wire_for(settings)
        self._consumer = clients.reader(settings, "warden-control-view", Fetch(wait_ms=None, partition_eof=True))
        topic = settings.topic(topics.CONTROL)
        try:
            partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        except (KafkaException, KeyError) as exc:
            self._consumer.close()  # a long-lived caller (the approvals service) retries: no consumer left behind
            raise BrokerUnavailableError(f"cannot read topic {topic} at {settings.bootstrap_servers}") from exc
        self._consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        self._at_end: set[int] = set()
        self._next: dict[int, int] = {}  # per partition, the offset after the last record applied
        self._topic = topic
        self._settings = settings
        self._partitions = set(partitions)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="warden-control-view", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            for msg in drain(self._consumer, 100, 0.1):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        self._at_end.add(msg.partition() or 0)
                        self._next[msg.partition() or 0] = max(self._next.get(msg.partition() or 0, 0),
                                                               msg.offset() or 0)
                        if self._at_end >= self._partitions:
                            self.caught_up.set()
                    continue
                try:
                    self._apply(msg)
                finally:  # after it is applied (or skipped): sync() must not see it read before it is in force
                    self._next[msg.partition() or 0] = (msg.offset() or 0) + 1

    def _apply(self, msg: Message) -> None:
        if msg.value() is None:
            return
        try:  # a record this version cannot read must not stop the view (its switches would freeze)
            record = self._wire.decode(msg.value(), "warden.Control")
        except (DecodeError, ValidationError):
            self.skipped += 1
            return
        assert isinstance(record, Control)
        self.switches.apply(record)
        self.rollouts.apply(record)

    def sync(self, timeout_s: float) -> bool:
        """Read up to the topic's end as it is now (not only as it was at start): a decision that
        depends on what is set (refusing a revive of a switch that is off) must see a switch set a
        moment ago by another process. False: not there within ``timeout_s``."""
        # a client of its own: the following thread's consumer is inside poll(), and asking it for
        # watermarks from this thread blocks past any timeout
        probe = clients.reader(self._settings, "warden-control-view")
        try:
            ends = {p: probe.get_watermark_offsets(TopicPartition(self._topic, p), timeout=timeout_s)[1]
                    for p in self._partitions}
        except KafkaException as exc:
            raise BrokerUnavailableError(f"cannot read the end of topic {self._topic}") from exc
        finally:
            probe.close()
        deadline = time.monotonic() + timeout_s
        while not all(self._next.get(p, 0) >= end for p, end in ends.items()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def is_enabled(self, tenant_id: str, workflow: str, tool: str = "", action: str = "",
                   read_only_tools: frozenset[str] = frozenset()) -> bool:
        return self.switches.is_enabled(tenant_id, workflow, tool, action, read_only_tools)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()
