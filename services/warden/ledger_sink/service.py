"""The ledger-sink shell: Kafka in, ClickHouse out, around the pure ``land`` step.

Exactly-once landing without transactions (Tansu leaks aborted records, DESIGN.md):
offsets are committed only after a flush has landed, so a crash can only replay the
last uncommitted flush. After every (re)assignment the first records of each partition
are checked against the ledger by record_id and skipped when already there; dead
letters (which a replay re-produces) are always checked. Queries never see a duplicate.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from warden.broker.consume import drain, records
from warden.core import topics
from warden.core.errors import DecodeError, LedgerError, ValidationError
from warden.core.records import DeadLetter, DeadLetterKind
from warden.core.wire import RECORD_NAMES, Wire, wire_for
from warden.ledger.checkpoint_log import CheckpointLog
from warden.ledger.client import Ledger
from warden.ledger.dead_letters import protect, sealer_from
from warden.ledger.endpoint import QueryEndpoint
from warden.ledger.migrations import migrate
from warden.ledger.readonly import QueryLimits
from warden.ledger.tables import TABLES, TABLES_BY_NAME
from warden.ledger_sink.processor import ChainHeads, Incoming, chain_of, land
from warden.ledger_sink.settings import LedgerSinkSettings

log = logging.getLogger("warden.ledger_sink")
# Records Warden itself produces at least once (decisions, approvals, switches, dead letters...)
# are checked against the ledger on every flush: a producer's replay after a crash may re-send
# them at any time, not only right after this sink's own restart. Agent events rely on the
# idempotent SDK producer and the recovery window (docs/decisions/0001).
ALWAYS_CHECKED = frozenset(TABLES) - {topics.AGENT_EVENTS}
SERVICE = "ledger-sink"


class SinkMetrics:
    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.last_flush_s = 0.0

    def prometheus(self) -> str:
        lines = []
        for name, value in sorted(self.counters.items()):
            metric, _, label = name.partition(":")
            labels = f'{{{label}}}' if label else ""
            lines.append(f"warden_ledger_sink_{metric}_total{labels} {value}")
        lines.append(f"warden_ledger_sink_last_flush_seconds {self.last_flush_s:.6f}")
        return "\n".join(lines) + "\n"


def dead_letter_for(msg: Message, reason: str, kind: DeadLetterKind) -> DeadLetter:
    raw = msg.value() or b""
    key = msg.key()
    digest = hashlib.sha256(f"{msg.topic()}|{msg.partition()}|{msg.offset()}|".encode() + raw).hexdigest()
    return DeadLetter(
        dead_letter_id=digest[:32], source_topic=msg.topic() or "", source_partition=msg.partition() or 0,
        source_offset=msg.offset() or 0, source_key=key.decode("utf-8", "replace") if key else None,
        error_kind=kind, reason=reason[:2000], raw=raw, failed_at=datetime.now(UTC), service=SERVICE,
    )


class LedgerSink:
    def __init__(self, settings: LedgerSinkSettings, ledger: Ledger | None = None) -> None:
        self.settings = settings
        self.ledger = ledger or Ledger.from_settings(settings)
        self.wire: Wire = wire_for(settings)
        self.metrics = SinkMetrics()
        self.heads = ChainHeads(settings.chain_cache_size)
        self._base = {settings.topic(t): t for t in TABLES}
        self._recovery: dict[tuple[str, int], int] = {}
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._buffer: list[Message] = []
        self._first_at = 0.0
        self._endpoint: QueryEndpoint | None = None
        self.key = settings.chain_keys(create=True).current
        self.sealer = sealer_from(settings.dead_letter_keys, settings.dead_letter_key_id)
        self.checkpoints: CheckpointLog | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> LedgerSink:
        applied = migrate(self.ledger, self.settings.retention())
        if applied:
            log.info("applied ledger migrations %s", applied)
        assert self.key is not None
        self.checkpoints = CheckpointLog(self.ledger, self.key, self.settings.checkpoint_interval_s,
                                         self.settings.checkpoint_file).start()
        if self.ledger.embedded and self.settings.serve_queries:
            self._endpoint = QueryEndpoint(self.ledger, self.settings.data_dir, self.settings.query_port,
                                           self.metrics.prometheus, QueryLimits.from_settings(self.settings)).start()
        conf = self.settings.kafka_config()
        self._consumer = Consumer({
            **conf,
            "group.id": self.settings.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": self.settings.group_session_timeout_ms,
            "heartbeat.interval.ms": max(500, self.settings.group_session_timeout_ms // 5),
            "max.poll.interval.ms": 300_000,
        })
        self._producer = Producer({**self.settings.producer_config(), "enable.idempotence": True, "acks": "all",
                                   "linger.ms": 5})
        self._consumer.subscribe(list(self._base), on_assign=self._on_assign, on_revoke=self._on_revoke)
        return self

    @property
    def query_port(self) -> int | None:
        return self._endpoint.port if self._endpoint else None

    def run(self, stop: threading.Event) -> None:
        """Consume and land until ``stop`` is set; then land what is buffered and commit."""
        assert self._consumer is not None
        try:
            while not stop.is_set():
                self.poll_once()
            self.flush()
            if self.checkpoints is not None:
                self.checkpoints.write()  # sign the heads of everything landed before stopping
        finally:
            self.close()

    def poll_once(self) -> None:
        if self.fill_buffer():
            self.flush()
        elif self.checkpoints is not None:
            self.checkpoints.tick()

    def fill_buffer(self) -> bool:
        """Consume what is there (briefly); True when the buffer is due to be landed."""
        assert self._consumer is not None
        room = self.settings.batch_max_rows - len(self._buffer)
        for msg in records(drain(self._consumer, max(1, room), 0.05), self.metrics.counters, log):
            if not self._buffer:
                self._first_at = time.monotonic()
            self._buffer.append(msg)
        return bool(self._buffer) and (
            len(self._buffer) >= self.settings.batch_max_rows
            or (time.monotonic() - self._first_at) * 1000 >= self.settings.batch_max_ms
        )

    def close(self) -> None:
        """Stop without landing anything further (``run`` flushes before it closes)."""
        self._buffer = []
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None
        if self._endpoint is not None:
            self._endpoint.stop()
            self._endpoint = None

    # -- rebalance --------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another replica may have extended our chains while it owned these partitions.
        self.heads.heads.clear()
        for tp in partitions:
            self._recovery[(tp.topic, tp.partition)] = 2 * self.settings.batch_max_rows

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.flush()

    # -- the flush: decode, dedupe, land, insert, commit ------------------------------------------

    def _decode(self, msg: Message) -> Incoming | None:
        topic = msg.topic() or ""
        base = self._base[topic]
        expected = RECORD_NAMES[TABLES[base].model]
        try:
            message = self.wire.decode(msg.value(), expected)
        except (DecodeError, ValidationError) as exc:
            kind = DeadLetterKind.DECODE if isinstance(exc, DecodeError) else DeadLetterKind.VALIDATE
            self.metrics.counters[f"dead_letters:kind=\"{kind.value}\",topic=\"{base}\""] += 1
            if base == topics.DEADLETTER:
                log.error("unreadable record on %s[%s]@%s, skipped: %s", topic, msg.partition(), msg.offset(), exc)
                return None
            letter = protect(dead_letter_for(msg, str(exc), kind), self.sealer)  # never unredacted on the topic
            assert self._producer is not None
            self._producer.produce(self.settings.topic(topics.DEADLETTER), self.wire.encode(letter),
                                   key=msg.key())
            log.info("dead-lettered %s[%s]@%s: %s", topic, msg.partition(), msg.offset(), exc)
            return None
        if isinstance(message, DeadLetter):  # another service's letter: seal it here if it was not
            message = protect(message, self.sealer)
        key = msg.key()
        return Incoming(base, msg.partition() or 0, msg.offset() or 0,
                        key.decode("utf-8", "replace") if key is not None else None, message, topic)

    def _already_landed(self, batch: list[Incoming]) -> set[tuple[str, str]]:
        wanted: dict[str, list[str]] = {}
        for item in batch:
            where = (item.src_topic, item.partition)
            budget = self._recovery.get(where, 0)
            if budget > 0 or item.topic in ALWAYS_CHECKED:
                table = TABLES[item.topic]
                wanted.setdefault(table.name, []).append(table.record_id(item.message))
                if budget > 0:
                    self._recovery[where] = budget - 1
        found: set[tuple[str, str]] = set()
        for name, ids in wanted.items():
            rows = self.ledger.rows(
                f"SELECT record_id FROM {self.ledger.database}.{name} WHERE record_id IN %(ids)s",
                {"ids": ids},
            )
            found.update((name, r[0]) for r in rows)
        return found

    def _seed_heads(self, batch: list[Incoming]) -> None:
        by_table: dict[str, set[str]] = {}
        for item in batch:
            table = TABLES[item.topic].name
            chain = chain_of(TABLES[item.topic], item)
            if self.heads.get(chain) is None:
                by_table.setdefault(table, set()).add(chain[1])
        for table, keys in by_table.items():
            rows = self.ledger.rows(
                f"SELECT chain_key, max(chain_seq), argMax(hash, chain_seq) FROM {self.ledger.database}.{table} "
                "WHERE chain_key IN %(keys)s GROUP BY chain_key",
                {"keys": sorted(keys)},
            )
            known = {r[0]: (int(r[1]), r[2]) for r in rows}
            for key in keys:
                if key in known:
                    self.heads.put((table, key), known[key])

    def flush(self) -> None:
        """Land what is buffered, then commit its offsets: the only order that loses nothing."""
        messages = self.land_buffered()
        if messages:
            self.commit(messages)

    def land_buffered(self) -> list[Message]:
        """Decode, dead-letter, dedupe, hash and insert the buffer; returns the messages it covered."""
        if not self._buffer or self._consumer is None:
            return []
        started = time.monotonic()
        messages, self._buffer = self._buffer, []
        batch = [item for item in map(self._decode, messages) if item is not None]
        skip = self._already_landed(batch)
        self._seed_heads(batch)
        self.heads, landed = land(self.heads, batch, skip, self.key)
        try:
            for table, columns in landed.columns.items():
                self.ledger.insert(table, TABLES_BY_NAME[table].insert_columns, columns)
        except LedgerError:
            # Heads were advanced for rows that did not land: forget them so they are re-read.
            self.heads.heads.clear()
            raise
        if self.checkpoints is not None:
            self.checkpoints.landed(landed.heads)
        assert self._producer is not None
        undelivered = self._producer.flush(30)
        if undelivered:
            raise LedgerError(f"{undelivered} dead letters not delivered to the broker; offsets not committed")
        counters = self.metrics.counters
        counters["consumed"] += len(messages)
        counters["duplicates_skipped"] += landed.duplicates
        counters["redactions"] += landed.redactions
        for table, n in landed.rows.items():
            counters[f"rows_landed:table=\"{table}\""] += n
        counters["flushes"] += 1
        self.metrics.last_flush_s = time.monotonic() - started
        return messages

    def commit(self, messages: list[Message]) -> None:
        assert self._consumer is not None
        offsets: dict[tuple[str, int], int] = {}
        for msg in messages:
            where = (msg.topic() or "", msg.partition() or 0)
            offsets[where] = max(offsets.get(where, -1), (msg.offset() or 0) + 1)
        self._consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                              asynchronous=False)


def run_service(settings: LedgerSinkSettings, stop: threading.Event, ready: Any = None) -> None:
    sink = LedgerSink(settings).start()
    if ready is not None:
        ready(sink)
    log.info("ledger-sink landing %s into %s", ", ".join(sink._base), sink.ledger.url)
    sink.run(stop)
