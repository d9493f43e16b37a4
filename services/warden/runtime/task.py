"""One processor at work: its consumers, its states per partition (or one for all), checkpoints.

The order that makes a crash safe, for every processor alike: outputs (and dead letters) are
confirmed delivered by the broker, then the checkpoint is written, then the group offset is
committed. A crash between any two steps only re-processes records whose outputs carry the same
ids as before, and the "seen before" memory travels in the checkpoint with the state.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition
from pydantic import BaseModel

from warden.core.errors import BrokerError, BrokerUnavailableError, DecodeError, ValidationError, WardenError
from warden.core.events import AgentEvent
from warden.core.headers import Routing, disagreement, key_disagreement, routing_from_event, routing_of
from warden.core.output import Output
from warden.core.records import DeadLetterKind
from warden.core.seen import SeenIds
from warden.core.settings import WardenSettings
from warden.core.topics import expiring
from warden.core.wire import Wire
from warden.kafka import clients
from warden.kafka.consume import drain, records
from warden.kafka.producer import CheckedProducer
from warden.runtime.deadletters import dead_letter_for
from warden.runtime.ids import record_id
from warden.runtime.processor import (
    BaseProcessor,
    Clock,
    Input,
    Membership,
    OnInvalid,
    Passed,
    Record,
    Role,
    Scope,
)
from warden.runtime.store import Checkpoint, Pending, StateStore, from_document, is_runtime_document, to_document

S = TypeVar("S")
Where = tuple[str, int]  # full topic name, partition
WHOLE = 0  # the slot key of a WHOLE-scope state


@dataclass
class Slot(Generic[S]):
    state: S
    seen: SeenIds | None  # None: the processor keeps its own memory of ids (seen_capacity = 0)
    positions: dict[Where, int] = field(default_factory=dict)  # next offset of each input partition covered
    saved: dict[Where, int] = field(default_factory=dict)
    quiet_since: float | None = None  # last record read (wall clock), for ticks
    outbox: list[Pending] = field(default_factory=list)
    forced: bool = False  # changed without input: save even though no position moved
    at_end: dict[Where, float] = field(default_factory=dict)  # read to its end at (monotonic), no record since
    # Of what was passed over since this state's last step: the newest event time (ms) per (base topic,
    # partition), not yet handed to passed_newest. Cleared in place (a batch loop holds it).
    passing: dict[tuple[str, int], int] = field(default_factory=dict)
    written: float = field(default_factory=time.monotonic)  # its checkpoint last written (or restored)


class Task(Generic[S]):
    def __init__(self, processor: BaseProcessor[S], settings: WardenSettings, group_id: str, wire: Wire,
                 producer: CheckedProducer, counters: Counter[str], store: StateStore | None = None,
                 service: str = "") -> None:
        self.processor = processor
        self.settings = settings
        self.group_id = group_id
        self.wire = wire
        self.producer = producer
        self.counters = counters
        self.store = store if processor.durable else None
        self.service = service or processor.name
        self.log = logging.getLogger(f"warden.runtime.{processor.name}")
        self.inputs = {settings.topic(i.topic): i for i in processor.inputs}
        # On the embedded durable broker raw batches expire after minutes (ADR 0021), and its offsets have no
        # gaps of their own: a jump is records that expired before this service read them, said, not silent.
        self._expiring = {settings.topic(t) for t in expiring(settings.topic_retention_hours)} \
            if settings.tansu_storage == "s3" else set()
        self.base = {full: i.topic for full, i in self.inputs.items()}
        self.main = [t for t, i in self.inputs.items() if i.role == Role.MAIN]
        self.copartitioned = [t for t, i in self.inputs.items() if i.role == Role.COPARTITIONED]
        self.broadcast = [t for t, i in self.inputs.items() if i.role == Role.BROADCAST]
        if not self.main:
            raise WardenError(f"{processor.name} declares no main input among {list(self.inputs)}")
        for i in processor.inputs:
            if i.view is not None and (i.reads is None or i.on_invalid != OnInvalid.SKIP):
                raise WardenError(f"{processor.name}: input {i.topic} declares a view without reads and "
                                  f"on_invalid=skip, the only path that validates views")
        self.grouped = processor.membership == Membership.GROUP
        fetch = processor.fetch
        self.consumer: Consumer = (clients.group_consumer(settings, group_id, fetch) if self.grouped
                                   else clients.reader(settings, group_id, fetch))
        self.co_consumer = clients.reader(settings, f"{group_id}-copartitioned", fetch) if self.copartitioned else None
        self.broadcast_consumer = clients.reader(settings, f"{group_id}-broadcast") if self.broadcast else None
        if self.store is not None:
            self.store.attach(self.consumer)
        self.slots: dict[int, Slot[S]] = {}
        self.assigned: set[Where] = set()
        # PARTITION states with a broadcast table: every record of it read so far, for a state assigned
        # later; and what a state writes to that table applies to the other states here at once (as one
        # state over every partition would have it), before it comes back through the topic.
        self._per_partition = processor.scope == Scope.PARTITION
        self.broadcast_log: list[Message] = []
        self._broadcast_bases = {self.base[t] for t in self.broadcast} if self._per_partition else set()
        self._has_tick = type(processor).tick is not BaseProcessor.tick
        self._has_advance = type(processor).advance is not BaseProcessor.advance
        self._has_sync = type(processor).sync is not BaseProcessor.sync
        self._has_due = type(processor).due is not BaseProcessor.due
        self._has_room = type(processor).room is not BaseProcessor.room
        self._has_passed = type(processor).passed is not BaseProcessor.passed
        self._has_wants = type(processor).wants is not BaseProcessor.wants
        self._has_passed_newest = type(processor).passed_newest is not BaseProcessor.passed_newest
        self._committing = True  # False once closed without a checkpoint (what a crash leaves)
        self._last_save = time.monotonic()
        self._closing = False

    # -- start and rebalances -------------------------------------------------------------------

    def start(self) -> None:
        if self.processor.scope == Scope.WHOLE:
            self.slots[WHOLE] = self._load(WHOLE)
        if self.grouped:
            self.consumer.subscribe(self.main, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                    on_lost=self._on_lost)
        else:
            self._on_assign(self.consumer, self._every_partition(self.consumer, self.main, OFFSET_BEGINNING))
        if self.broadcast_consumer is not None:
            self.broadcast_consumer.assign(self._every_partition(self.broadcast_consumer, self.broadcast,
                                                                 OFFSET_BEGINNING))

    def _every_partition(self, consumer: Consumer, names: list[str], offset: int) -> list[TopicPartition]:
        try:
            metadata = consumer.list_topics(timeout=10).topics
            return [TopicPartition(name, p, offset) for name in names for p in metadata[name].partitions]
        except (KafkaException, KeyError) as exc:
            raise BrokerUnavailableError(f"{self.processor.name} cannot read {', '.join(names)} at "
                                         f"{self.settings.bootstrap_servers}: {exc!r}") from exc

    def _slot_key(self, partition: int) -> int:
        return partition if self._per_partition else WHOLE

    def _store_key(self, key: int) -> tuple[str, int]:
        if self.processor.scope == Scope.WHOLE:
            return self.processor.whole_key or self.processor.name, 0
        return self.main[0], key

    def _load(self, key: int) -> Slot[S]:
        proc = self.processor
        snapshot = self.store.load(*self._store_key(key)) if self.store is not None else None
        seen = SeenIds(proc.seen_capacity) if proc.seen_capacity else None
        if snapshot is None:
            if self.store is not None:
                self.log.info("%s[%d]: no snapshot: rebuilding state from the beginning", *self._store_key(key))
            return Slot(proc.initial(key), seen)
        if is_runtime_document(snapshot.state):
            saved = from_document(snapshot.state, proc.seen_capacity)
            slot = Slot(proc.restore(saved.state, key), saved.seen if seen is not None else None,
                        dict(saved.positions), dict(saved.positions))
            pending = saved.outbox
        else:  # written before the runtime: the processor reads its own old layout
            old = proc.upgrade(snapshot.state, snapshot.next_offset, key)
            positions = {(self.settings.topic(t), p): o for (t, p), o in old.positions.items()}
            slot = Slot(old.state, seen, positions, dict(positions))
            pending = [self._encode(out) for out in old.outbox]
        self.log.info("%s[%d]: restored from snapshot at offset %d", *self._store_key(key), snapshot.next_offset)
        if pending:  # outputs made without input whose delivery the crash may have cut short: same ids again
            self.log.info("%s[%d]: re-producing %d outputs from the snapshot's outbox", *self._store_key(key),
                          len(pending))
            for out in pending:
                self.producer.produce(out.topic, out.value, key=out.key)
        return slot

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._closing:  # leaving: take nothing on (a load would need the consumer being closed)
            consumer.assign(partitions)
            return
        for tp in partitions:
            key = self._slot_key(tp.partition)
            slot = self.slots.get(key)
            if slot is None:
                slot = self.slots[key] = self._load(key)
                for msg in self.broadcast_log:  # the table as this replica has read it so far
                    self._handle(msg, slot, self.inputs[msg.topic() or ""], dedupe=False)
            if self.store is not None or not self.grouped:
                tp.offset = slot.positions.get((tp.topic, tp.partition), OFFSET_BEGINNING)
            self.assigned.add((tp.topic, tp.partition))
            slot.state = self.processor.assigned(slot.state, self.base[tp.topic], tp.partition)
            for co in self.copartitioned:
                slot.state = self.processor.assigned(slot.state, self.base[co], tp.partition)
        consumer.assign(partitions)
        self._follow_copartitioned()
        if self.processor.needs_every_partition and self.grouped:
            self._warn_if_partial(consumer)

    def _warn_if_partial(self, consumer: Consumer) -> None:
        """A state that needs every partition (windows over a whole tenant) says so loudly when it has not."""
        try:
            metadata = consumer.list_topics(timeout=5).topics
        except KafkaException:  # metadata is only for this warning
            return
        for topic in self.main:
            owned = sum(1 for t, _ in self.assigned if t == topic)
            total = len(metadata[topic].partitions) if topic in metadata else 0
            if total and owned < total:
                self.log.warning("%s owns %d of %d partitions of %s: another replica runs in group %s, so what "
                                 "spans partitions sees only part of the traffic; run one replica",
                                 self.processor.name, owned, total, topic, self.group_id)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {self._slot_key(tp.partition) for tp in partitions}
        try:
            self.save(only=keys)
        except WardenError as exc:
            if not self._closing:
                raise
            self.log.warning("state not saved on the way out (the last checkpoint stands): %s", exc)
        self._drop(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Lost, not revoked: another member may own them already, so nothing is written over its state."""
        self._drop(partitions)

    def _drop(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.assigned.discard((tp.topic, tp.partition))
            slot = self.slots.get(self._slot_key(tp.partition))
            if slot is not None:
                for topic in (tp.topic, *self.copartitioned):
                    slot.state = self.processor.revoked(slot.state, self.base[topic], tp.partition)
                    slot.at_end.pop((topic, tp.partition), None)
            if self.processor.scope == Scope.PARTITION:
                self.slots.pop(tp.partition, None)
        self._follow_copartitioned()

    def _follow_copartitioned(self) -> None:
        if self.co_consumer is None:
            return
        self.co_consumer.assign([TopicPartition(t, p, self.slots[p].positions.get((t, p), OFFSET_BEGINNING))
                                 for p in sorted(self.slots) for t in self.copartitioned])

    # -- records --------------------------------------------------------------------------------

    def _decode(self, msg: Message, spec: Input, state: S | None = None,
                headed: bool | None = None) -> BaseModel | Routing | None:
        """The typed record; the routing facts of an event the processor does not read; None for a
        record that is skipped (or dead-lettered). ``headed`` (an input with ``reads`` only): _take_all
        read the routing headers already, found them (True: and the record is not passed over on them)
        or not (False); None: read them here."""
        if headed is None:
            headed = False  # routing headers read: `wants` was asked on them already
            if spec.reads is not None:
                routing = routing_of(msg.headers())
                headed = routing is not None
                if routing is not None and self._passes_over(routing, spec.reads, state, msg):
                    self.counters["not_read"] += 1
                    self.counters["passed_by_header"] += 1  # of those, without decoding them
                    return routing
        if spec.on_invalid == OnInvalid.SKIP:
            if spec.reads is not None:
                value = self.wire.decode_or_pass(msg.value(), spec.record, self.counters, spec.reads, spec.view)
                return value if headed else self._unwanted(value, spec, state)
            return self.wire.decode_or_skip(msg.value(), spec.record, self.counters)
        try:
            value = self.wire.decode(msg.value(), spec.record)
            if isinstance(value, AgentEvent) and (
                    ((routing := routing_of(msg.headers())) is not None and (wrong := disagreement(routing, value)))
                    or (wrong := key_disagreement(msg.key(), value))):
                raise ValidationError(f"invalid AgentEvent: {wrong}")
        except (DecodeError, ValidationError) as exc:
            kind = DeadLetterKind.DECODE if isinstance(exc, DecodeError) else DeadLetterKind.VALIDATE
            letter = self.processor.dead_letter(dead_letter_for(msg, str(exc), kind, self.service), spec)
            if letter is not None:
                self.producer.produce(self.settings.topic("deadletter"), self.wire.encode(letter), key=msg.key())
                self.counters[f"dead_letters:{kind.value}"] += 1
            return None
        if spec.reads is not None and isinstance(value, AgentEvent) and value.event_type not in spec.reads:
            self.counters["not_read"] += 1
            return routing_from_event(value)
        return value if headed else self._unwanted(value, spec, state)

    def _passes_over(self, routing: Routing, reads: frozenset[str], state: S | None, msg: Message) -> bool:
        """Whether a record is passed over on its routing headers, undecoded: the one rule of both read paths
        (_take_all's and _decode's), which replay's parity with the live service depends on."""
        return routing.event_type not in reads or (
            self._has_wants and state is not None and not self.processor.wants(state, routing, _key(msg)))

    def _unwanted(self, value: BaseModel | Routing | None, spec: Input,
                  state: S | None) -> BaseModel | Routing | None:
        """A decoded event (a record without routing headers) the processor would have passed over on its
        headers: passed over here too, before the memory of ids, so both kinds of record take one path."""
        if self._has_wants and state is not None and spec.reads is not None and (
                isinstance(value, AgentEvent) or (spec.view is not None and isinstance(value, spec.view))):
            routing = routing_from_event(value)  # type: ignore[arg-type]  # the view has the fields it reads
            if not self.processor.wants(state, routing, value.run_id):  # type: ignore[attr-defined]
                self.counters["not_read"] += 1
                return routing
        return value

    def _encode(self, out: Output) -> Pending:
        return Pending(self.settings.topic(out.topic), out.key.encode(), self.wire.encode(out.record))

    def _produce(self, outputs: list[Output]) -> None:
        for out in outputs:
            self.producer.produce(self.settings.topic(out.topic), self.wire.encode(out.record),
                                  key=out.key.encode())
            self.counters[f"produced:{out.topic}"] += 1

    def _handle(self, msg: Message, slot: Slot[S], spec: Input, dedupe: bool = True,
                at: tuple[int, int] | None = None, headed: bool | None = None) -> None:
        """``at``: the record's (partition, offset) when the caller has them; ``headed``: see _decode."""
        if msg.value() is None:  # a tombstone (compacted topics): nothing to step
            return
        value = self._decode(msg, spec, slot.state, headed)
        if value is None:
            return
        partition, offset = at if at is not None else (msg.partition() or 0, msg.offset() or 0)
        if isinstance(value, Routing):
            if self._has_passed_newest:
                where, ms = (spec.topic, partition), value.occurred_ms
                if where not in slot.passing or slot.passing[where] < ms:
                    slot.passing[where] = ms
            else:
                self._pass(slot, Passed(spec.topic, partition, offset, value))
            return
        if slot.passing:
            self._flush_passed(slot)
        rid = record_id(value, spec.topic, partition, offset)
        first = slot.seen.first_time(rid) if dedupe and slot.seen is not None else True
        if not first and self.processor.dedupe:
            self.counters["duplicates_skipped"] += 1
            return
        raw_key = msg.key()
        record = Record(spec.topic, partition, offset, raw_key.decode("utf-8", "replace") if raw_key else None,
                        rid, not first, value)
        try:
            slot.state, outputs = self.processor.step(slot.state, record)
        except Exception:
            if not self.processor.isolate_failures:
                raise
            # one poison record must not stop every other record (a gate waiting on a verdict would deny all)
            self.log.exception("%s[%s]@%s (id %s) could not be processed; skipped", msg.topic(), partition, offset,
                               rid)
            self.counters[self.processor.failure_counter] += 1
            return
        self.counters[self.processor.step_counter] += 1
        if not outputs:
            return
        self._produce(outputs)
        if self._broadcast_bases:
            self._apply_here(outputs, slot)

    def _pass(self, slot: Slot[S], passed: Passed) -> None:
        if not self._has_passed:
            return
        try:
            slot.state, outputs = self.processor.passed(slot.state, passed)
            if not outputs:
                return
        except Exception:
            if not self.processor.isolate_failures:
                raise
            self.log.exception("%s[%s]@%s (passed over, %s) could not be processed; skipped", passed.topic,
                               passed.partition, passed.offset, passed.routing.event_type)
            self.counters[self.processor.failure_counter] += 1
            return
        self._produce(outputs)

    def _flush_passed(self, slot: Slot[S]) -> None:
        """What was passed over since the last step of this state, handed over at once (passed_newest): before
        its next step, at the end of every batch and before any checkpoint."""
        newest = dict(slot.passing)
        slot.passing.clear()
        try:
            slot.state, outputs = self.processor.passed_newest(slot.state, newest)
        except Exception:
            if not self.processor.isolate_failures:
                raise
            self.log.exception("records passed over from %s could not be processed; skipped",
                               ", ".join(f"{t}[{p}]" for t, p in newest))
            self.counters[self.processor.failure_counter] += 1
            return
        if outputs:
            self._produce(outputs)

    def _flush_all_passed(self) -> None:
        for slot in self.slots.values():
            if slot.passing:
                self._flush_passed(slot)

    def _apply_here(self, outputs: list[Output], origin: Slot[S]) -> None:
        for out in outputs:
            if out.topic not in self._broadcast_bases:
                continue
            record = Record(out.topic, -1, -1, out.key, record_id(out.record, out.topic, -1, -1), False, out.record)
            for slot in self.slots.values():
                if slot is not origin:
                    if slot.passing:
                        self._flush_passed(slot)
                    slot.state, more = self.processor.step(slot.state, record)
                    self._produce(more)

    def poll(self) -> int:
        """One batch of every input (broadcast first, so a switch applies to the batch read with it)."""
        handled = 0
        if self.broadcast_consumer is not None:
            for msg in records(self.broadcast_consumer.consume(100, 0), self.counters):
                if self._per_partition:
                    self.broadcast_log.append(msg)  # a partition assigned later starts from the whole table
                for slot in self.slots.values():
                    self._handle(msg, slot, self.inputs[msg.topic() or ""], dedupe=False)
        batch = self.processor.batch_max_rows
        if self._has_room and self.slots:
            batch = max(1, min(self.processor.room(slot.state) for slot in self.slots.values()))
        now = time.monotonic()
        if self.co_consumer is not None and self.slots:
            handled += self._take_all(self._records(self.co_consumer.consume(batch, 0), now), None)
        messages = drain(self.consumer, batch, self.processor.poll_timeout_s)
        now = time.monotonic()
        handled += self._take_all(self._records(messages, now), now)
        if self._has_passed_newest:
            self._flush_all_passed()
        if messages and self.processor.checkpoint_every_s == 0:
            self.save()
        else:
            self.producer.poll(0)
        return handled

    def _records(self, messages: list[Message], now: float) -> list[Message]:
        """The records; an end-of-partition event (asked for with Fetch(partition_eof=True)) marks its
        partition read to its end until its next record, other error events are counted."""
        if not self._has_advance:  # at_end is only read by advance: without errors, the records are all there is
            out = [msg for msg in messages if msg.error() is None]
            if len(out) == len(messages):
                return out
        out = []
        for msg in messages:
            err = msg.error()
            if err is None:
                out.append(msg)
                if self._has_advance:
                    slot = self.slots.get(self._slot_key(msg.partition() or 0))
                    if slot is not None and slot.at_end:
                        slot.at_end.pop((msg.topic() or "", msg.partition() or 0), None)
            elif err.code() == KafkaError._PARTITION_EOF:  # in order: after the records before it
                slot = self.slots.get(self._slot_key(msg.partition() or 0))
                if slot is not None:
                    slot.at_end.setdefault((msg.topic() or "", msg.partition() or 0), now)
            else:
                self.counters["consumer_errors"] += 1
        return out

    def _take_all(self, messages: list[Message], now: float | None) -> int:
        """Each record in order: its state's main-input count and quiet time, the expiry-gap check, its
        handling, its position. What is the same for a run of records of one partition (its state, its
        input) is looked up once per run; the counts are added once per batch (in ``finally``, so an
        exception leaves them as counting each would); a record passed over on its routing headers (most
        of what a controller reads) is passed over here, as _decode would, without its calls."""
        slots, inputs, expiring, counters = self.slots, self.inputs, self._expiring, self.counters
        per_partition, has_newest = self._per_partition, self._has_passed_newest
        passes_over, handle = self._passes_over, self._handle
        taken = events = by_header = 0
        where: Where | None = None  # the (topic, partition) of the run of records being taken
        slot: Slot[S] | None = None
        spec: Input | None = None
        main, reads, positions, gapped = False, None, {}, False
        passing: dict[tuple[str, int], int] = {}
        pass_key = ("", 0)
        try:
            for msg in messages:
                topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
                if where is None or partition != where[1] or topic != where[0]:
                    where = (topic, partition)
                    # Looked up once per run: only a rebalance (inside the consumer's poll) changes them.
                    slot = slots.get(partition if per_partition else WHOLE)
                    if slot is not None:
                        spec = inputs[topic]
                        main, reads, positions = spec.role is Role.MAIN, spec.reads, slot.positions
                        gapped = topic in expiring
                        passing, pass_key = slot.passing, (spec.topic, partition)
                if slot is None or spec is None:
                    continue  # not ours any more (revoked mid-batch)
                if main:
                    events += 1
                    if now is not None:
                        slot.quiet_since = now
                if gapped and (expected := positions.get(where)) is not None and offset > expected:
                    self._check_gap(slot, topic, partition, offset)  # the check, called only on a gap
                if reads is None:
                    handle(msg, slot, spec, True, (partition, offset))
                elif msg.value() is not None:  # else a tombstone: nothing to step (as _handle)
                    routing = routing_of(msg.headers())
                    if routing is None:
                        handle(msg, slot, spec, True, (partition, offset), False)
                    elif passes_over(routing, reads, slot.state, msg):
                        by_header += 1
                        if has_newest:
                            ms = routing.occurred_ms
                            if pass_key not in passing or passing[pass_key] < ms:
                                passing[pass_key] = ms
                        else:
                            self._pass(slot, Passed(spec.topic, partition, offset, routing))
                    else:
                        handle(msg, slot, spec, True, (partition, offset), True)
                positions[where] = offset + 1
                taken += 1
        finally:
            if events:
                counters["events"] += events
            if by_header:
                counters["not_read"] += by_header
                counters["passed_by_header"] += by_header  # of those, without decoding them
        return taken

    def _check_gap(self, slot: Slot[S], topic: str, partition: int, offset: int) -> None:
        expected = slot.positions.get((topic, partition))
        if expected is not None and offset > expected:
            self.counters["records_expired_unread"] += offset - expected
            self.log.error("%s[%s]: offsets %s-%s were deleted before %s read them (%s records lost: on the "
                           "embedded broker, a partition past WARDEN_EMBEDDED_UNREAD_BATCHES_MAX=%s unread batches "
                           "loses its oldest; ADR 0028)", topic, partition, expected, offset - 1, self.service,
                           offset - expected, self.settings.embedded_unread_batches_max)

    # -- ticks, checkpoints, shutdown -----------------------------------------------------------

    def tick(self) -> None:
        if self._has_advance:
            self._advance()
        if not self._has_tick:
            return
        now = time.monotonic()
        for key, slot in list(self.slots.items()):
            if slot.quiet_since is None:
                # Restored or assigned with no record since: its quiet time starts now, so a partition
                # that stays silent after a restart still flushes the windows its checkpoint holds.
                slot.quiet_since = now
                continue
            slot.state, outputs = self.processor.tick(slot.state, now - slot.quiet_since)
            if not outputs:
                continue
            slot.outbox = [self._encode(out) for out in outputs]
            slot.forced = True
            self.save(only={key})  # the outbox is durable before a row of it is produced
            self._produce(outputs)
            self.producer.flush_or_raise(30, f"{self.processor.name} outputs of an idle flush")
            slot.outbox = []  # the next checkpoint drops them
            self.counters["idle_flushes"] += 1

    def _advance(self) -> None:
        now = time.monotonic()
        for slot in list(self.slots.values()):
            quiet = now - slot.quiet_since if slot.quiet_since is not None else 0.0
            ends = {(self.base[t], p): now - at for (t, p), at in slot.at_end.items()}
            slot.state, outputs = self.processor.advance(slot.state, Clock(now, quiet, ends))
            self._produce(outputs)

    def maybe_save(self) -> bool:
        if self._refresh_due():
            self.save()
            return True
        if self._has_due:
            if not any(self.processor.due(slot.state) for slot in self.slots.values()):
                return False
            self.save()
            return True
        every = self.processor.checkpoint_every_s
        if every <= 0 or time.monotonic() - self._last_save < every:
            return False
        self.save()
        return True

    def _refresh_due(self) -> bool:
        """A store whose checkpoints expire (the changelog on the embedded durable broker, ADR 0023) needs each
        state's newest one re-written within its ``refresh_s``, changed or not: those slots are forced."""
        refresh = getattr(self.store, "refresh_s", None)
        if not refresh or not self._committing:
            return False
        now = time.monotonic()
        stale = [slot for slot in self.slots.values() if now - slot.written >= refresh]
        for slot in stale:
            slot.forced = True
        return bool(stale)

    def save(self, only: set[int] | None = None) -> None:
        """Outputs confirmed delivered, then the checkpoint, then the group offsets it covers."""
        if self._has_passed_newest:
            self._flush_all_passed()  # a revoke mid-batch: what was passed over is in the state first
        self._last_save = time.monotonic()
        if not self._committing:
            return
        dirty = [key for key, slot in self.slots.items()
                 if (only is None or key in only) and (slot.forced or slot.positions != slot.saved)]
        if not dirty:
            return
        self.producer.flush_or_raise(30, f"{self.processor.name} outputs (state not saved, offsets not committed)")
        commit: dict[Where, int] = {}
        owned = self._committed_partitions()
        for key in dirty:
            slot = self.slots[key]
            if self._has_sync:
                slot.state = self.processor.sync(slot.state)
            if self.store is not None:
                store_topic, store_partition = self._store_key(key)
                main = slot.positions.get((store_topic, store_partition), 0) \
                    if self.processor.scope == Scope.PARTITION else 0
                self.store.save(store_topic, store_partition, main, to_document(Checkpoint(
                    self.processor.dump(slot.state), slot.seen, slot.positions, slot.outbox)))
            slot.saved = dict(slot.positions)
            slot.forced = False
            slot.written = time.monotonic()
            commit.update({w: o for w, o in slot.positions.items() if w in owned})
        if self.store is not None:
            self.store.sync()
        if commit and not self.grouped:
            self._report_positions(commit)
        if self.grouped and commit:
            try:
                offsets = [TopicPartition(t, p, o) for (t, p), o in commit.items()]
                if self.processor.commit_sync:
                    self.consumer.commit(offsets=offsets, asynchronous=False)
                else:
                    self.consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:
                if self.processor.commit_sync:  # its recovery depends on this commit: stop rather than read on
                    raise BrokerError(f"{self.processor.name}: offset commit failed: {exc}") from exc
                # a lost commit only re-reads records whose outputs have the same ids
                self.log.warning("offset commit failed: %s", exc)

    def _committed_partitions(self) -> set[Where]:
        """Whose positions a save commits for the group: the main partitions assigned, and partition p of each
        co-partitioned input beside each main p. The runtime resumes a co-partitioned input from the checkpoint, not
        from the group; it is committed so that what waits on committed offsets waits for it too (the embedded
        broker's trimmer, ADR 0028: uncommitted, the risk-scorer's policy.decisions went once the other readers
        were past it). Broadcast inputs are read from their start and never committed."""
        if not self.copartitioned:
            return self.assigned
        return self.assigned | {(co, p) for _, p in self.assigned for co in self.copartitioned}

    def _report_positions(self, commit: dict[Where, int]) -> None:
        """A reader of every partition restarts from its checkpoint, not from the group: its positions are
        committed to the group anyway, so a lag monitor (benchmarks/stack.py, kafka-consumer-groups) sees it."""
        try:
            self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in commit.items()],
                                 asynchronous=True)
        except KafkaException as exc:  # nothing reads these back
            self.log.debug("positions not committed for lag monitors: %s", exc)

    def close(self, checkpoint: bool = True) -> None:
        """``checkpoint=False``: leave without saving or committing anything more (what a crash leaves)."""
        self._closing = True
        self._committing = checkpoint
        try:
            self.save()
        except (WardenError, KafkaException) as exc:  # the last checkpoint stands; re-reading covers the rest
            self.log.warning("final checkpoint not written: %s", exc)
        finally:
            self.consumer.close()  # a group member's close revokes: what it owns is saved once more
            for other in (self.co_consumer, self.broadcast_consumer):
                if other is not None:
                    other.close()

    def checkpoint_of(self, key: int) -> Checkpoint:
        """The checkpoint a save would write now (tests, and a changelog store later)."""
        slot = self.slots[key]
        return Checkpoint(self.processor.dump(slot.state), slot.seen, dict(slot.positions), list(slot.outbox))


def _key(msg: Message) -> str | None:
    raw = msg.key()
    return raw.decode("utf-8", "replace") if raw else None
