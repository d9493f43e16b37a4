"""The HTTP shell on the real broker: what OTLP/HTTP answers for bad, partial and compressed exports, and
that an export the broker did not take is mapped again in full when retried."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.tool_proxy.running import read
from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core.events import AgentEvent
from warden.core.records import DeadLetter
from warden.core.settings import WardenSettings
from warden.otlp_ingest.service import OtlpIngest, create_app
from warden.otlp_ingest.settings import OtlpIngestSettings
from warden.otlp_ingest.spans import PROTOBUF

pytestmark = pytest.mark.integration


def export(trace: str, *spans: dict[str, Any], tenant: bool = True) -> dict[str, Any]:
    resource = [{"key": "warden.tenant_id", "value": {"stringValue": "acme"}},
                {"key": "warden.workflow", "value": {"stringValue": "refund_ticket"}}] if tenant else []
    return {"resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [{"spans": [
        {"traceId": trace, "startTimeUnixNano": "1764000000000000000", "endTimeUnixNano": "1764000001000000000",
         **s} for s in spans]}]}]}


def op(name: str) -> list[dict[str, Any]]:
    return [{"key": "gen_ai.operation.name", "value": {"stringValue": name}}]


AGENT = {"spanId": "a000000000000001", "name": "invoke_agent bot", "attributes": op("invoke_agent")}
CHAT = {"spanId": "c000000000000001", "parentSpanId": "a000000000000001", "name": "chat m",
        "attributes": [*op("chat"), {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "9"}}]}
HTTP = {"spanId": "d000000000000001", "name": "GET /"}


@pytest.fixture
def ingest(topics: WardenSettings, tmp_path: Path) -> Iterator[tuple[OtlpIngest, TestClient]]:
    settings = OtlpIngestSettings(**{**topics.model_dump(), "data_dir": tmp_path / "warden"})
    service = OtlpIngest(settings)
    with TestClient(create_app(service)) as client:
        yield service, client
    service.close()


def test_unsupported_and_undecodable_bodies(ingest: tuple[OtlpIngest, TestClient]) -> None:
    _, client = ingest
    assert client.post("/v1/traces", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.post("/v1/traces", content=b"x", headers={"Content-Type": "application/json",
                                                            "Content-Encoding": "br"}).status_code == 415
    bad = client.post("/v1/traces", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and "not JSON" in bad.json()["message"]
    garbage = client.post("/v1/traces", content=b"\xff\xff\xff", headers={"Content-Type": PROTOBUF})
    assert garbage.status_code == 400 and garbage.headers["content-type"] == PROTOBUF


def test_partial_success_gzip_and_the_records_on_the_topics(
        ingest: tuple[OtlpIngest, TestClient], topics: WardenSettings) -> None:
    service, client = ingest
    trace = uuid.uuid4().hex
    body = gzip.compress(json.dumps(export(trace, CHAT, HTTP, AGENT)).encode())
    answer = client.post("/v1/traces", content=body,
                         headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "not_genai" in partial["errorMessage"]
    events = read(topics, "agent.events", "warden.AgentEvent", lambda r: len(r) >= 3)
    assert [e.event_type.value for e in events] == ["run_started", "llm_call", "run_completed"]
    assert all(isinstance(e, AgentEvent) and e.run_id == f"otel-{trace}-a000000000000001" for e in events)
    [letter] = read(topics, "deadletter", "warden.DeadLetter", lambda r: len(r) >= 1)
    assert isinstance(letter, DeadLetter) and letter.source_key == trace and letter.service == "otlp-ingest"
    assert json.loads(letter.raw)["name"] == "GET /"
    metrics = client.get("/metrics").text
    assert 'warden_otlp_ingest_spans_dead_lettered_total{reason="not_genai"} 1.0' in metrics
    assert "# TYPE warden_otlp_ingest_events_produced_total counter" in metrics
    assert service.state.pending == {}


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker of the test's own, which the test stops (the session's one serves every other test)."""
    broker = TansuBroker(free_port(), log_path=tmp_path / "tansu.log").start()
    yield broker
    broker.stop()


def test_a_delivery_the_stopped_broker_did_not_take_answers_503_and_the_retry_maps_everything(
        topics: WardenSettings, own_broker: TansuBroker, tmp_path: Path) -> None:
    # Records wait 3 s for a broker, not librdkafka's 300 s: the 503 comes from the failed delivery itself.
    extra = {**topics.kafka_extra_config, "message.timeout.ms": 3000}
    settings = OtlpIngestSettings(**{**topics.model_dump(), "kafka_bootstrap_servers": own_broker.bootstrap,
                                     "kafka_extra_config": extra, "data_dir": tmp_path / "warden"})
    ensure_topics(settings)
    service = OtlpIngest(settings)
    trace = uuid.uuid4().hex
    body = json.dumps(export(trace, CHAT, AGENT)).encode()
    try:
        with TestClient(create_app(service)) as client:
            own_broker.stop()  # the broker goes away after the service started
            failed = client.post("/v1/traces", content=body, headers={"Content-Type": "application/json"})
            assert failed.status_code == 503, failed.text
            assert "not delivered to the broker" in failed.json()["message"]
            assert "Message timed out" in failed.json()["message"]  # librdkafka's own word for it
            assert service.counters["runs_ingested"] == 0 and service.state.pending == {}  # nothing applied
            own_broker.start()  # back on the same port, empty (memory storage)
            ensure_topics(settings)
            retried = client.post("/v1/traces", content=body, headers={"Content-Type": "application/json"})
            assert retried.status_code == 200 and retried.json() == {}
    finally:
        service.close()
    assert service.counters["runs_ingested"] == 1 and service.counters["spans_duplicate"] == 0
    assert service.counters["requests_failed"] == 1
    events = read(settings, "agent.events", "warden.AgentEvent", lambda r: len(r) >= 3, timeout_s=10)
    assert [e.event_type.value for e in events] == ["run_started", "llm_call", "run_completed"]  # once each


def test_waiting_spans_survive_a_restart(topics: WardenSettings, tmp_path: Path) -> None:
    settings = OtlpIngestSettings(**{**topics.model_dump(), "data_dir": tmp_path / "warden"})
    trace = uuid.uuid4().hex
    first = OtlpIngest(settings)
    with TestClient(create_app(first)) as client:
        answer = client.post("/v1/traces", json=export(trace, CHAT))
        assert answer.status_code == 200 and answer.json() == {}
    first.producer.close(5)  # a crash: no close(), only what was saved before the answer
    second = OtlpIngest(settings)
    try:
        assert list(second.state.pending) == [f"{trace}:c000000000000001"]
        with TestClient(create_app(second)) as client:
            client.post("/v1/traces", json=export(trace, AGENT))
        assert second.counters["runs_ingested"] == 1 and second.counters["events_produced"] == 3
    finally:
        second.close()
