"""The otlp-ingest shell: OTLP/HTTP in (POST /v1/traces, protobuf or JSON), AgentEvents and dead letters out.

Everything it decides is warden.otlp_ingest.processor's pure plan; this file decodes, holds the state under
one lock, produces through the runtime's checked producer, and applies the plan's change only after
the broker has acknowledged every record: an export answered 503 is mapped again in full when the
exporter retries. The state is snapshotted (spans left waiting for their run before the export is
answered), so a restart keeps attributing and deduplicating.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response
from prometheus_client.core import Metric
from starlette.concurrency import run_in_threadpool

from warden.broker.admin import admin_client
from warden.core import topics
from warden.core.errors import BrokerUnavailableError, DecodeError, DeliveryError, WardenError
from warden.core.headers import event_headers
from warden.core.seen import SeenIds
from warden.core.wire import wire_for
from warden.kafka import clients
from warden.ledger_rows.dead_letters import protect, sealer_from
from warden.otlp_ingest import processor, semconv
from warden.otlp_ingest.letters import SERVICE, dead_letter
from warden.otlp_ingest.settings import OtlpIngestSettings
from warden.otlp_ingest.spans import (
    JSON,
    PROTOBUF,
    Span,
    UnsupportedMediaError,
    decode,
    decompress,
    refusal,
    response,
    spans_of,
)
from warden.runtime.metrics import EXPOSITION, counter_families, expose, gauge, producer_families, render
from warden.state.snapshots import SnapshotStore

log = logging.getLogger("warden.otlp_ingest")
GRPC_INVALID_ARGUMENT, GRPC_UNAVAILABLE = 3, 14

COUNTERS = {
    "requests": "OTLP export requests received",
    "requests_refused": "export requests answered 4xx (undecodable, or no span maps)",
    "requests_failed": "export requests answered 503 (the broker did not take the records; the exporter retries)",
    "spans_received": "spans received in decodable exports",
    "spans_duplicate": "spans already mapped or waiting (a re-sent export)",
    "spans_pending": "spans left waiting for their invoke_agent span",
    "spans_dead_lettered": "spans refused and dead-lettered, by reason",
    "runs_ingested": "agent runs made from invoke_agent spans",
    "events_produced": "AgentEvents produced to agent.events",
}


class OtlpIngest:
    def __init__(self, settings: OtlpIngestSettings) -> None:
        self.settings = settings
        self.config = processor.Config(settings.otlp_pending_timeout_s, settings.otlp_trace_ttl_s,
                                     dict(settings.otlp_tool_aliases), settings.otlp_dedupe_capacity)
        self.wire = wire_for(settings)
        self.sealer = sealer_from(settings.dead_letter_keys, settings.dead_letter_key_id)
        self.store = SnapshotStore(settings.state_dir / SERVICE)
        snapshot = self.store.load(SERVICE, 0)
        self.state = (processor.restore(snapshot.state, self.config) if snapshot is not None
                      else processor.IngestState(done=SeenIds(self.config.done_capacity)))
        self.counters: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._saved_at = time.monotonic()
        self._dirty = False
        self._check_topics()
        self.producer = clients.producer(settings, linger_ms=5)
        self.metrics = expose(self.families)

    def _check_topics(self) -> None:
        wanted = [self.settings.topic(topics.AGENT_EVENTS), self.settings.topic(topics.DEADLETTER)]
        try:
            existing = admin_client(self.settings).list_topics(timeout=10).topics
        except Exception as exc:  # confluent_kafka.KafkaException, or a bad bootstrap string
            raise BrokerUnavailableError(f"cannot list topics at {self.settings.bootstrap_servers}: {exc}") from exc
        missing = [t for t in wanted if t not in existing]
        if missing:
            raise BrokerUnavailableError(f"topics {missing} do not exist at {self.settings.bootstrap_servers}: "
                                         "run `warden topics create` (or `warden up`) first")

    # -- the two ways the state moves: an export, and the clock --------------------------------

    def ingest(self, spans: list[Span]) -> processor.Plan:
        """Raises DeliveryError when the broker did not take every record (nothing is applied then)."""
        with self.lock:
            now = time.time()
            plan = processor.plan(self.state, spans, now, self.config)
            self._deliver(plan, f"an export of {len(spans)} spans")
            processor.apply(self.state, plan.change, now, self.config)
            self._count(plan)
            self.counters["spans_received"] += len(spans)
            self._save(force=bool(plan.change.pending_add))
        return plan

    def tick(self) -> processor.Plan:
        with self.lock:
            now = time.time()
            plan = processor.plan_tick(self.state, now, self.config)
            if plan.refusals:
                self._deliver(plan, f"{len(plan.refusals)} dead letters of spans that waited too long")
                processor.apply(self.state, plan.change, now, self.config)
                self._count(plan)
            self._save()
        return plan

    def _deliver(self, plan: processor.Plan, what: str) -> None:
        at = datetime.now(UTC)
        for event in plan.events:
            self.producer.produce(self.settings.topic(topics.AGENT_EVENTS), self.wire.encode(event),
                                  key=event.run_id.encode(), headers=event_headers(event))
        for refused in plan.refusals:
            letter = protect(dead_letter(refused, at), self.sealer)  # never unredacted on the topic
            self.producer.produce(self.settings.topic(topics.DEADLETTER), self.wire.encode(letter),
                                  key=(letter.source_key or "").encode())
            log.info("dead-lettered span %s (%s): %s", refused.span.key, refused.reason.value, refused.detail)
        try:
            self.producer.flush_or_raise(15, what)
        except DeliveryError:
            self.producer.forget_failures()  # nothing was applied: the retry maps the export again
            raise

    def _count(self, plan: processor.Plan) -> None:
        self.counters["spans_duplicate"] += plan.duplicates
        self.counters["spans_pending"] += plan.pending
        self.counters["runs_ingested"] += plan.runs
        self.counters["events_produced"] += len(plan.events)
        for refused in plan.refusals:
            self.counters[f'spans_dead_lettered:reason="{refused.reason.value}"'] += 1
        self._dirty = self._dirty or bool(plan.events or plan.refusals or plan.change.pending_add
                                          or plan.change.pending_remove)

    def _save(self, force: bool = False) -> None:
        due = time.monotonic() - self._saved_at >= self.settings.otlp_snapshot_interval_s
        if self._dirty and (force or due):
            self.store.save(SERVICE, 0, 0, processor.dump(self.state))
            self._saved_at = time.monotonic()
            self._dirty = False

    def families(self) -> list[Metric]:
        return [*counter_families(dict(self.counters), "warden_otlp_ingest_", COUNTERS, label="reason"),
                gauge("warden_otlp_ingest_spans_waiting", "Spans waiting for their invoke_agent span now", {},
                      len(self.state.pending)),
                *producer_families(SERVICE, self.producer.failures, self.producer.queued())]

    def close(self) -> None:
        EXPOSITION.remove(self.metrics)
        with self.lock:
            self._save(force=True)
        self.producer.close(10)


def _media(content_type: str) -> str:
    return JSON if content_type.split(";")[0].strip().lower() == JSON else PROTOBUF


def _summary(refusals: list[processor.Refusal]) -> str:
    """Per reason, how many and the first one's detail; the ones a sender can fix by configuration first."""
    first: dict[processor.Reason, processor.Refusal] = {}
    counts: Counter[processor.Reason] = Counter()
    for refused in refusals:
        first.setdefault(refused.reason, refused)
        counts[refused.reason] += 1
    order = sorted(first, key=lambda r: (r != processor.Reason.NO_TENANT, r != processor.Reason.INVALID, r.value))
    parts = "; ".join(f"{counts[r]} {r.value} ({first[r].detail})" for r in order)
    return f"{len(refusals)} spans dead-lettered: {parts}"


async def _body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise DecodeError(f"the export is over {limit} bytes (WARDEN_OTLP_MAX_BODY_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(service: OtlpIngest) -> FastAPI:
    app = FastAPI(title="Warden OTLP ingest", version="0.1.0")
    limit = service.settings.otlp_max_body_bytes

    @app.get("/health")
    def health() -> dict[str, object]:
        return {"status": "ok", "semconv": semconv.SEMCONV_VERSION, "waiting": len(service.state.pending)}

    @app.get("/metrics")
    def metrics() -> Response:
        body, content_type = render()
        return Response(body, media_type=content_type)

    @app.post("/v1/traces")
    async def traces(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        media = _media(content_type)
        service.counters["requests"] += 1

        def refuse(status: int, code: int, message: str) -> Response:
            service.counters["requests_refused" if status < 500 else "requests_failed"] += 1
            return Response(refusal(media, code, message), status, media_type=media)

        try:
            body = decompress(await _body(request, limit), request.headers.get("content-encoding"), limit)
            spans = spans_of(decode(body, content_type))
        except DecodeError as exc:
            status = 415 if isinstance(exc, UnsupportedMediaError) else 400
            return refuse(status, GRPC_INVALID_ARGUMENT, str(exc))
        try:
            plan = await run_in_threadpool(service.ingest, spans)
        except WardenError as exc:
            log.error("export of %d spans not taken: %s", len(spans), exc)
            return refuse(503, GRPC_UNAVAILABLE, f"Warden could not store the export, retry: {exc}")
        keys = {s.key for s in spans}
        refused = [r for r in plan.refusals if r.span.key in keys]
        if spans and len(refused) == len(spans):
            log.warning("export refused: %s", _summary(refused))
            return refuse(400, GRPC_INVALID_ARGUMENT, f"no span of the export maps to an agent run: "
                                                      f"{_summary(refused)}")
        message = _summary(refused) if refused else ""
        if refused:
            log.warning("export partly refused: %s", message)
        return Response(response(media, len(refused), message), 200, media_type=media)

    return app


def run_service(settings: OtlpIngestSettings, stop: threading.Event) -> None:
    import uvicorn

    service = OtlpIngest(settings)
    server = uvicorn.Server(uvicorn.Config(create_app(service), host=settings.otlp_host, port=settings.otlp_port,
                                           log_level="warning"))

    def clock() -> None:
        while not stop.wait(1.0):
            try:
                service.tick()
            except WardenError as exc:
                log.error("spans that waited too long not dead-lettered yet, will retry: %s", exc)
        server.should_exit = True

    threading.Thread(target=clock, daemon=True, name="otlp-ingest-clock").start()
    log.info("OTLP/HTTP receiver on http://%s:%d/v1/traces (GenAI semantic conventions %s)", settings.otlp_host,
             settings.otlp_port, semconv.SEMCONV_VERSION)
    try:
        server.run()
    finally:
        service.close()
