"""The ledger-sink shell: Kafka in, ClickHouse out, around the pure ``land`` step, on the runtime.

Exactly-once landing without transactions (Tansu leaks aborted records, DESIGN.md; ADR 0001):
the runtime buffers decoded records (the processor's state) until the batch is full or old
enough, then checkpoints in its one order: dead letters confirmed delivered by the checked
producer, then the batch landed (``sync``), then its offsets committed, synchronously; so a crash
can only replay the last uncommitted flush. After every (re)assignment the first records of each
partition are checked against the ledger by record_id and skipped when already there; dead
letters (which a replay re-produces) are always checked. Queries never see a duplicate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import Metric

from warden.core import topics
from warden.core.errors import LedgerError
from warden.core.output import Output
from warden.core.records import DeadLetter
from warden.core.seen import SeenIds
from warden.core.wire import RECORD_NAMES
from warden.kafka.clients import Fetch
from warden.ledger.checkpoint_log import CheckpointLog
from warden.ledger.client import Ledger
from warden.ledger.endpoint import QueryEndpoint
from warden.ledger.migrations import migrate
from warden.ledger.readonly import QueryLimits
from warden.ledger_rows.dead_letters import protect, sealer_from
from warden.ledger_rows.tables import TABLES, TABLES_BY_NAME
from warden.ledger_sink.processor import ChainHeads, Incoming, chain_of, land
from warden.ledger_sink.settings import LedgerSinkSettings
from warden.runtime.app import App
from warden.runtime.collector import tune_gc
from warden.runtime.metrics import counter_families, gauge, render
from warden.runtime.processor import BaseProcessor, Clock, Input, OnInvalid, Record, Scope

log = logging.getLogger("warden.ledger_sink")
# Records Warden itself produces at least once (decisions, approvals, switches, dead letters...)
# are checked against the ledger on every flush: a producer's replay after a crash may re-send
# them at any time, not only right after this sink's own restart. Agent events rely on the
# SDK producer, the recovery window (docs/decisions/0001) and, for a producer that re-sent one
# (at least once on the embedded broker's durable storage, ADR 0014), the ids landed lately.
ALWAYS_CHECKED = frozenset(TABLES) - {topics.AGENT_EVENTS}
SERVICE = "ledger-sink"


SINK_COUNTERS = {
    "consumed": "Records read from every landed topic",
    "rows_landed": "Rows inserted into the ledger, by table",
    "dead_letters": "Records the sink dead-lettered (decode or validate), by kind and source topic",
    "duplicates_skipped": "Records already in the ledger (a redelivery or replay), not inserted again",
    "redactions": "Values redacted before storage",
    "flushes": "Batches landed",
}


class SinkMetrics:
    """The sink's own figures; keys ``name`` or ``name:label="value",...`` (warden.runtime.metrics.split_key)."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.last_flush_s = 0.0

    def families(self) -> list[Metric]:
        return [*counter_families(dict(self.counters), "warden_ledger_sink_", SINK_COUNTERS),
                gauge("warden_ledger_sink_last_flush_seconds", "How long the last batch took to land", {},
                      self.last_flush_s)]


@dataclass
class Batch:
    """What is read and not landed yet."""

    items: list[Incoming] = field(default_factory=list)
    first_at: float = 0.0  # when its first record was read (monotonic)


class SinkProcessor(BaseProcessor[Batch]):
    name = SERVICE
    scope = Scope.WHOLE  # chain heads span partitions
    durable = False  # the ledger is the state; the committed offsets say what it holds
    dedupe = False  # the ledger dedupes by record_id (recovery window, ALWAYS_CHECKED)
    seen_capacity = 0
    isolate_failures = False
    commit_sync = True  # a crash replays at most the last uncommitted flush (ADR 0001's recovery window)
    poll_timeout_s = 0.05
    fetch = Fetch(wait_ms=500, max_poll_interval_ms=300_000)

    def __init__(self, sink: LedgerSink) -> None:
        self.sink = sink
        self.settings = sink.settings
        self.inputs = tuple(Input(t, RECORD_NAMES[TABLES[t].model], on_invalid=OnInvalid.DEAD_LETTER)
                            for t in TABLES)
        self.batch_max_rows = self.settings.batch_max_rows
        self.recovery: dict[tuple[str, int], int] = {}
        self.recent = SeenIds(self.settings.recent_event_ids)  # agent event record ids this sink landed
        self.failed: LedgerError | None = None

    def initial(self, partition: int) -> Batch:
        return Batch()

    def dump(self, state: Batch) -> Any:
        raise NotImplementedError("the ledger-sink's state is the ledger")

    def restore(self, data: Any, partition: int) -> Batch:
        raise NotImplementedError("the ledger-sink's state is the ledger")

    def assigned(self, state: Batch, topic: str, partition: int) -> Batch:
        self.sink.heads.heads.clear()  # another replica may have extended our chains while it owned these
        self.recovery[(self.settings.topic(topic), partition)] = 2 * self.settings.batch_max_rows
        return state

    def dead_letter(self, letter: DeadLetter, spec: Input) -> DeadLetter | None:
        counters = self.sink.sink_metrics.counters
        counters[f"dead_letters:kind=\"{letter.error_kind.value}\",topic=\"{spec.topic}\""] += 1
        counters["consumed"] += 1
        where = f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}"
        if spec.topic == topics.DEADLETTER:
            log.error("unreadable record on %s, skipped: %s", where, letter.reason)
            return None
        log.info("dead-lettered %s: %s", where, letter.reason)
        return protect(letter, self.sink.sealer)  # never unredacted on the topic

    def step(self, state: Batch, record: Record) -> tuple[Batch, list[Output]]:
        message = record.value
        if isinstance(message, DeadLetter):  # another service's letter: seal it here if it was not
            message = protect(message, self.sink.sealer)
        if not state.items:
            state.first_at = time.monotonic()
        state.items.append(Incoming(record.topic, record.partition, record.offset, record.key, message,
                                    self.settings.topic(record.topic)))
        self.sink.sink_metrics.counters["consumed"] += 1
        return state, []

    def due(self, state: Batch) -> bool:
        return bool(state.items) and (
            len(state.items) >= self.settings.batch_max_rows
            or (time.monotonic() - state.first_at) * 1000 >= self.settings.batch_max_ms)

    def room(self, state: Batch) -> int:
        return self.settings.batch_max_rows - len(state.items)  # a flush never holds more than batch_max_rows

    def sync(self, state: Batch) -> Batch:
        self.land(state)
        return Batch()

    def advance(self, state: Batch, clock: Clock) -> tuple[Batch, list[Output]]:
        if not state.items and self.sink.checkpoints is not None:
            self.sink.checkpoints.tick()
        return state, []

    def land(self, state: Batch) -> list[Incoming]:
        """Dedupe, hash and insert the batch; returns what it covered. A failure is sticky: heads were
        advanced for rows that may not have landed, so nothing more is landed or committed here."""
        if self.failed is not None:
            raise LedgerError(f"an earlier landing failed, so no offset is committed past it: {self.failed}")
        batch, state.items = state.items, []
        if not batch:
            return []
        sink = self.sink
        started = time.monotonic()
        skip = self._already_landed(batch)
        self._seed_heads(batch)
        sink.heads, landed = land(sink.heads, batch, skip, sink.key)
        try:
            for table, columns in landed.columns.items():
                sink.ledger.insert(table, TABLES_BY_NAME[table].insert_columns, columns)
        except LedgerError as exc:
            sink.heads.heads.clear()
            self.failed = exc
            raise
        if sink.checkpoints is not None:
            sink.checkpoints.landed(landed.heads)
        events = TABLES[topics.AGENT_EVENTS]
        for item in batch:
            if item.topic == topics.AGENT_EVENTS:
                self.recent.first_time(events.record_id(item.message))
        counters = sink.sink_metrics.counters
        counters["duplicates_skipped"] += landed.duplicates
        counters["redactions"] += landed.redactions
        for table, n in landed.rows.items():
            counters[f"rows_landed:table=\"{table}\""] += n
        counters["flushes"] += 1
        sink.sink_metrics.last_flush_s = time.monotonic() - started
        return batch

    def _already_landed(self, batch: list[Incoming]) -> set[tuple[str, str]]:
        wanted: dict[str, list[str]] = {}
        found: set[tuple[str, str]] = set()
        for item in batch:
            where = (item.src_topic, item.partition)
            budget = self.recovery.get(where, 0)
            table = TABLES[item.topic]
            record_id = table.record_id(item.message)
            if item.topic == topics.AGENT_EVENTS and record_id in self.recent:
                found.add((table.name, record_id))  # re-sent after this sink landed it
            elif budget > 0 or item.topic in ALWAYS_CHECKED:
                wanted.setdefault(table.name, []).append(record_id)
            if budget > 0:
                self.recovery[where] = budget - 1
        ledger = self.sink.ledger
        for name, ids in wanted.items():
            for chunk in _chunks(ids):
                if any("," in i for i in chunk):
                    rows = ledger.rows(f"SELECT record_id FROM {ledger.database}.{name} WHERE record_id IN %(ids)s",
                                       {"ids": chunk})
                else:  # one string to bind, not thousands (28 against 45-60 ms of CPU for 5,000 ids)
                    rows = ledger.rows(f"SELECT record_id FROM {ledger.database}.{name} WHERE record_id IN "
                                       "(SELECT arrayJoin(splitByChar(',', %(ids)s)))", {"ids": ",".join(chunk)})
                found.update((name, r[0]) for r in rows)
        return found

    def _seed_heads(self, batch: list[Incoming]) -> None:
        heads, ledger = self.sink.heads, self.sink.ledger
        by_table: dict[str, set[str]] = {}
        for item in batch:
            table = TABLES[item.topic].name
            chain = chain_of(TABLES[item.topic], item)
            if heads.get(chain) is None:
                by_table.setdefault(table, set()).add(chain[1])
        for table, keys in by_table.items():
            known: dict[str, tuple[int, str]] = {}
            for chunk in _chunks(sorted(keys)):  # a batch of that many runs would pass max_query_size too
                rows = ledger.rows(
                    f"SELECT chain_key, max(chain_seq), argMax(hash, chain_seq) FROM {ledger.database}.{table} "
                    "WHERE chain_key IN %(keys)s GROUP BY chain_key",
                    {"keys": chunk},
                )
                known.update((r[0], (int(r[1]), r[2])) for r in rows)
            for key in keys:
                if key in known:
                    heads.put((table, key), known[key])


LOOKUP_CHARS = 100_000  # of ids per lookup query: ClickHouse refuses a query text over max_query_size (256 KiB)


def _chunks(ids: list[str]) -> list[list[str]]:
    """The ids in runs whose text stays well under max_query_size (a batch of 7,000 event ids did not)."""
    out: list[list[str]] = [[]]
    size = 0
    for i in ids:
        if out[-1] and size + len(i) + 4 > LOOKUP_CHARS:
            out.append([])
            size = 0
        out[-1].append(i)
        size += len(i) + 4  # quotes, comma and space, or the separator
    return out


class LedgerSink(App):
    def __init__(self, settings: LedgerSinkSettings, ledger: Ledger | None = None) -> None:
        super().__init__(settings, SERVICE, linger_ms=5)
        self.settings: LedgerSinkSettings = settings
        self.ledger = ledger or Ledger.from_settings(settings)
        self.sink_metrics = SinkMetrics()
        self.metrics.extra.append(self.sink_metrics.families)
        self.heads = ChainHeads(settings.chain_cache_size)
        self.key = settings.chain_keys(create=True).current
        self.sealer = sealer_from(settings.dead_letter_keys, settings.dead_letter_key_id)
        self.checkpoints: CheckpointLog | None = None
        self._endpoint: QueryEndpoint | None = None
        self.processor = SinkProcessor(self)
        self.task = self.add(self.processor, settings.group_id)

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
                                           render, QueryLimits.from_settings(self.settings)).start()
        super().start()
        return self

    @property
    def query_port(self) -> int | None:
        return self._endpoint.port if self._endpoint else None

    @property
    def batch(self) -> Batch:
        return self.task.slots[0].state

    def run(self, stop: threading.Event) -> None:
        """Consume and land until ``stop`` is set; then land what is buffered and commit."""
        try:
            while not stop.is_set():
                self.poll_once()
            self.flush()
            if self.checkpoints is not None:
                self.checkpoints.write()  # sign the heads of everything landed before stopping
        finally:
            self.close()

    def fill_buffer(self) -> bool:
        """Consume what is there (briefly); True when the buffer is due to be landed."""
        self.task.poll()
        return self.processor.due(self.batch)

    def land_buffered(self) -> list[Incoming]:
        """Land the buffer without committing its offsets (what a crash right after landing leaves)."""
        return self.processor.land(self.batch)

    def flush(self) -> None:
        """Dead letters confirmed, the buffer landed, then its offsets committed: the only order that loses nothing."""
        self.task.save()

    def close(self, checkpoint: bool = False) -> None:
        """Stop without landing anything further (``run`` flushes before it closes)."""
        try:
            super().close(checkpoint)
        finally:
            if self._endpoint is not None:
                self._endpoint.stop()
                self._endpoint = None


def run_service(settings: LedgerSinkSettings, stop: threading.Event, ready: Any = None) -> None:
    sink = LedgerSink(settings).start()
    tune_gc()
    if ready is not None:
        ready(sink)
    log.info("ledger-sink landing %s into %s", ", ".join(sink.task.main), sink.ledger.url)
    sink.run(stop)
