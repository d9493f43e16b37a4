"""Checkpoints on a compacted changelog topic, so a partition's state moves with it to a replica on
another host, with no shared filesystem (issue 14 point 2; docs/decisions/0008-stream-runtime.md).

Every save writes the checkpoint document, zlib-compressed and cut into chunks under the broker's
record limit, to ``<group>.changelog``, keyed by the store key, on the changelog partition of the
state (the input partition, or 0 for a WHOLE state): one key per changelog partition. Restore reads
that partition forward and keeps the newest complete record. Where it starts reading is a hint the
owner commits, after each confirmed write, as the group's offset on the changelog partition (with
the task's own consumer, so a broker that fences stale group members refuses a stale owner's hint):
restore reads from the newest checkpoint on, in time proportional to the state's size, however long
the partition's history and whether or not the broker compacts (Tansu does not).
Where the end is: Tansu's ListOffsets "latest" is wrong (DESIGN.md, Tansu caveats), so restore never
asks; it writes a marker record with a fresh id to the partition and reads until it sees it.

Generations: a record carries the owner's epoch (one more than the highest epoch restore saw) and
a sequence within it; readers take the highest (epoch, seq), so a stale owner's late write, which
carries the old epoch, is ignored by every later restore. A new owner claims the state at once
(writes it back at its epoch and commits the hint), and every owner checks, before it commits a
hint, that the committed one is still its own: a stale owner is refused there (StaleStateError).
The local snapshot directory stays a cache beside it: an operator can read it, and a snapshot
written before the changelog existed is what a first restore reads (an upgrade in place).

Expiry (ADR 0023): on the embedded durable broker Tansu lists every batch of a partition on each fetch
and never compacts, so a restore reading from its hint stalls once a partition holds ~1,000 batches (a
checkpoint every 5 s is one in under 1.5 hours). There the checkpoints expire (a SeaweedFS TTL,
``embedded_changelog_retention_minutes``), the runtime re-writes each state's newest checkpoint every
``refresh_s`` (a third of it) whether it changed or not, and restore takes a checkpoint older than the
TTL less ``refresh_s`` for gone (expiry is per object, so part of it may be): with nothing usable it
reads the local snapshot, which every save writes too. Expired records still count for the epoch.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from warden.broker.admin import ensure_topics
from warden.core.errors import StateError
from warden.core.settings import WardenSettings
from warden.core.topics import AGENT_EVENTS, PARTITIONS, TopicSpec
from warden.kafka import clients
from warden.kafka.configs import Fetch
from warden.kafka.producer import CheckedProducer
from warden.state.snapshots import Snapshot, SnapshotStore

log = logging.getLogger("warden.runtime.changelog")

VERSION = 1
MARKER_KEY = b"\x00marker"
CHUNK_BYTES = 256 * 1024  # well under librdkafka's and Kafka's 1 MB default record limit
RESTORE_TIMEOUT_S = 60.0


class StaleStateError(StateError):
    """This replica's checkpoint was not taken: another owner has checkpointed the state since."""


def changelog_name(group_id: str) -> str:
    return f"{group_id}.changelog"


@dataclass
class _Assembly:
    header: dict[str, Any]
    chunks: dict[int, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Found:
    """The newest complete checkpoint of a key, and the highest epoch any record of the key carried."""

    header: dict[str, Any]
    payload: bytes
    max_epoch: int


def state_text(key: str, state: Any) -> str:
    """The state's JSON text, written once per checkpoint (the changelog and its local cache both store it)."""
    try:
        return json.dumps(state, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StateError(f"state of {key} is not JSON-serialisable: {exc}") from exc


def encode(key: str, epoch: int, seq: int, next_offset: int, state: Any, text: str | None = None) -> list[bytes]:
    """One checkpoint as records: a JSON header line, then a chunk of the compressed document. ``text``: the
    state's JSON text (``state_text``) when the caller has it."""
    payload = zlib.compress((text if text is not None else state_text(key, state)).encode(), 1)
    chunks = [payload[i:i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)] or [b""]
    base = {"v": VERSION, "key": key, "epoch": epoch, "seq": seq, "next_offset": next_offset,
            "saved_at": time.time(), "of": len(chunks)}
    return [json.dumps({**base, "chunk": i}).encode() + b"\n" + chunk for i, chunk in enumerate(chunks)]


def split(value: bytes) -> tuple[dict[str, Any], bytes]:
    header, _, body = value.partition(b"\n")
    try:
        return json.loads(header), body
    except ValueError as exc:
        raise StateError(f"a changelog record has no readable header: {header[:80]!r}") from exc


class Newest:
    """Folds a changelog partition's records, in offset order, into the newest complete checkpoint of a key."""

    def __init__(self, key: str) -> None:
        self.key = key.encode()
        self.assembling: dict[tuple[int, int], _Assembly] = {}
        self.best: tuple[tuple[int, int], dict[str, Any], bytes] | None = None
        self.max_epoch = 0

    def add(self, key: bytes | None, value: bytes | None) -> None:
        if key != self.key or value is None:
            return
        header, body = split(value)
        at = (int(header["epoch"]), int(header["seq"]))
        self.max_epoch = max(self.max_epoch, at[0])
        if self.best is not None and at <= self.best[0]:
            return  # older than what is already complete (or a stale owner's)
        assembly = self.assembling.setdefault(at, _Assembly(header))
        assembly.chunks[int(header["chunk"])] = body
        if len(assembly.chunks) == int(header["of"]):
            del self.assembling[at]
            self.best = (at, assembly.header, b"".join(assembly.chunks[i] for i in range(len(assembly.chunks))))
            self.assembling = {k: v for k, v in self.assembling.items() if k > at}

    def found(self) -> Found | None:
        if self.best is None:
            return None
        return Found(self.best[1], self.best[2], self.max_epoch)


class ChangelogStore:
    def __init__(self, settings: WardenSettings, group_id: str, producer: CheckedProducer,
                 cache: SnapshotStore | None = None, partitions: int = PARTITIONS[AGENT_EVENTS]) -> None:
        self.settings = settings
        self.group_id = group_id
        self.base = changelog_name(group_id)
        self.topic = settings.topic(self.base)
        self.producer = producer
        self.cache = cache
        self.partitions = partitions
        self.epochs: dict[str, int] = {}
        self.seqs: dict[str, int] = {}
        self.expected: dict[int, int | None] = {}  # changelog partition -> the hint this owner knows committed
        self.written: dict[int, int] = {}  # changelog partition -> first offset of its newest delivered checkpoint
        self.unsynced = False
        self.consumer: Consumer | None = None  # whose group keeps the hints: the task's own consumer
        self._reader: Consumer | None = None
        self._created = False
        # On the embedded durable broker checkpoints expire (ADR 0023); None: they are kept.
        self.ttl_s: float | None = settings.embedded_changelog_retention_minutes * 60.0 \
            if settings.tansu_storage == "s3" else None
        self.refresh_s: float | None = self.ttl_s / 3 if self.ttl_s is not None else None

    # -- the StateStore calls -------------------------------------------------------------------

    def attach(self, consumer: Consumer) -> None:
        self.consumer = consumer

    def load(self, topic: str, partition: int) -> Snapshot | None:
        key, where = self._key(topic, partition)
        self._ensure()
        start = self._hint(where)
        newest = self._read(where, key, start)
        if newest.found() is None and start is not None:  # the hint points past every record of the key: read all
            newest = self._read(where, key, None)
        self.expected[where] = start
        found = newest.found()
        if found is not None and self._expired(found):
            log.info("the newest checkpoint of %s on %s[%d] was written %.0f s ago, past its expiry (%.0f s): "
                     "restoring from the local snapshot", key, self.topic, where,
                     time.time() - float(found.header["saved_at"]), self.ttl_s)
            found = None
        if found is None:
            self.epochs[key] = newest.max_epoch + 1  # an expired owner's epoch still fences it
            local = self.cache.load(topic, partition) if self.cache is not None else None
            if local is not None:
                log.info("no usable checkpoint of %s on %s[%d] (expired, or none yet): the local snapshot of %.0f s "
                         "ago", key, self.topic, where, time.time() - local.saved_at)
            return local
        self.epochs[key] = found.max_epoch + 1
        self.seqs[key] = 0
        try:
            state = json.loads(zlib.decompress(found.payload))
        except (zlib.error, ValueError) as exc:
            raise StateError(f"the checkpoint of {key} on {self.topic}[{where}] is unreadable: {exc}") from exc
        snapshot = Snapshot(topic, partition, int(found.header["next_offset"]), state,
                            float(found.header["saved_at"]))
        self.save(topic, partition, snapshot.next_offset, state)  # claim it at this owner's epoch
        self.sync()
        return snapshot

    def save(self, topic: str, partition: int, next_offset: int, state: Any) -> Snapshot:
        key, where = self._key(topic, partition)
        self._ensure()
        epoch = self.epochs.setdefault(key, 1)
        seq = self.seqs[key] = self.seqs.get(key, 0) + 1
        def first(msg: Message) -> None:
            offset = msg.offset()
            if offset is not None:
                self.written[where] = offset  # delivery reports come in order: the newest checkpoint's wins

        text = state_text(key, state)
        for i, value in enumerate(encode(key, epoch, seq, next_offset, state, text)):
            self.producer.produce(self.topic, value, key=key.encode(), partition=where,
                                  on_delivered=first if i == 0 else None)
        self.unsynced = True
        if self.cache is not None:
            return self.cache.save(topic, partition, next_offset, state, text)
        return Snapshot(topic, partition, next_offset, state, time.time())

    def sync(self) -> None:
        """Every checkpoint saved since the last sync is on the broker, and its hint committed, on return."""
        if not self.unsynced:
            return
        self.producer.flush_or_raise(30, f"state checkpoints to {self.topic}")
        self.unsynced = False
        hints, self.written = self.written, {}
        if self.consumer is None or not hints:
            return
        try:
            committed = self.consumer.committed([TopicPartition(self.topic, w) for w in sorted(hints)], timeout=10)
            for tp in committed:
                now = tp.offset if tp.offset >= 0 else None
                if now != self.expected.get(tp.partition):
                    raise StaleStateError(
                        f"{self.topic}[{tp.partition}]: another owner checkpointed this state since this replica "
                        f"read it (committed position {now}, expected {self.expected.get(tp.partition)}): it is "
                        f"not this replica's any more; its late checkpoint carries an older epoch, which every "
                        f"restore ignores")
            self.consumer.commit(offsets=[TopicPartition(self.topic, w, o) for w, o in sorted(hints.items())],
                                 asynchronous=False)
        except KafkaException as exc:
            # The checkpoints stand (flushed above); only where the next restore starts is older. A group
            # that refuses the commit (UNKNOWN_MEMBER_ID after a rebalance or a killed member) must not
            # crash the service into a restart loop: the hints are kept and committed at the next sync.
            log.warning("the position of the checkpoints on %s was not committed (retried at the next "
                        "checkpoint): %s", self.topic, exc)
            self.written = {**hints, **self.written}
            self.unsynced = True
            return
        self.expected.update(hints)

    # -- helpers --------------------------------------------------------------------------------

    def _expired(self, found: Found) -> bool:
        """Older than its TTL less one refresh: a live owner re-writes it sooner, so this one's owner stopped,
        and SeaweedFS may have removed part of it (or older checkpoints of the key before it)."""
        if self.ttl_s is None or self.refresh_s is None:
            return False
        return time.time() - float(found.header["saved_at"]) > self.ttl_s - self.refresh_s

    def _key(self, topic: str, partition: int) -> tuple[str, int]:
        if not 0 <= partition < self.partitions:
            raise StateError(f"{self.topic} has {self.partitions} partitions, a state of partition {partition} "
                             f"has none")
        return f"{topic}|{partition}", partition

    def _ensure(self) -> None:
        if not self._created:
            ensure_topics(self.settings, (TopicSpec(self.base, "warden.runtime.Checkpoint", "store key",
                                                    self.partitions, {"cleanup.policy": "compact"}),))
            self._created = True

    def _hint(self, where: int) -> int | None:
        if self.consumer is None:
            return None
        try:
            [tp] = self.consumer.committed([TopicPartition(self.topic, where)], timeout=10)
        except KafkaException as exc:
            raise StateError(f"cannot read where the checkpoints on {self.topic}[{where}] are: {exc}") from exc
        return tp.offset if tp.offset >= 0 else None

    def _read(self, where: int, key: str, start: int | None) -> Newest:
        """Everything from ``start`` up to a marker written now: the end, without trusting ListOffsets."""
        if self._reader is None:
            self._reader = clients.reader(self.settings, f"{self.group_id}.changelog-restore", Fetch(wait_ms=10))
        reader = self._reader
        reader.assign([TopicPartition(self.topic, where, OFFSET_BEGINNING if start is None else start)])
        marker = uuid.uuid4().hex
        self.producer.produce(self.topic, json.dumps({"marker": marker}).encode() + b"\n", key=MARKER_KEY,
                              partition=where)
        self.producer.flush_or_raise(30, f"the restore marker of {self.topic}[{where}]")
        newest = Newest(key)
        deadline = time.monotonic() + RESTORE_TIMEOUT_S
        try:
            while True:
                for msg in reader.consume(1000, 0.2):
                    if msg.error() is not None:
                        continue
                    if msg.key() == MARKER_KEY:
                        header, _ = split(msg.value() or b"")
                        if header.get("marker") == marker:
                            return newest
                        continue
                    newest.add(msg.key(), msg.value())
                if time.monotonic() > deadline:
                    raise StateError(f"restoring {key} from {self.topic}[{where}]: the marker written at its end "
                                     f"was not read back within {RESTORE_TIMEOUT_S:.0f} s")
        finally:
            reader.unassign()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
