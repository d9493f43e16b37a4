"""Decoding OTLP/HTTP exports: protobuf and JSON give the same spans; bad bodies are named, not guessed."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from warden.core.errors import DecodeError
from warden.otlp_ingest.spans import JSON, PROTOBUF, UnsupportedMediaError, decode, decompress, response, spans_of

TRACE = "5b8efff798038103d269b633813fc60c"
OTLP_JSON = {"resourceSpans": [{
    "resource": {"attributes": [{"key": "warden.tenant_id", "value": {"stringValue": "acme"}}]},
    "scopeSpans": [{"scope": {"name": "pydantic-ai"}, "spans": [{
        "traceId": TRACE, "spanId": "eee19b7ec3c1b174", "parentSpanId": "eee19b7ec3c1b173",
        "name": "execute_tool lookup", "kind": 1, "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": 1544712661000000000,
        "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
                       {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}},
                       {"key": "flag", "value": {"boolValue": True}},
                       {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"},
                                                                           {"doubleValue": 1.5}]}}},
                       {"key": "blob", "value": {"bytesValue": "AAE="}}],
        "status": {"code": 2, "message": "boom"}}]}]}]}


def test_otlp_json_with_hex_ids() -> None:
    [span] = spans_of(decode(json.dumps(OTLP_JSON).encode(), "application/json; charset=utf-8"))
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE, "eee19b7ec3c1b174", "eee19b7ec3c1b173")
    assert span.attributes == {"gen_ai.operation.name": "execute_tool", "gen_ai.usage.input_tokens": 42,
                               "flag": True, "tags": ["a", 1.5], "blob": "AAE="}
    assert span.resource == {"warden.tenant_id": "acme"} and span.scope == "pydantic-ai"
    assert (span.start_ns, span.end_ns, span.status_code, span.status_message) == (
        1544712660000000000, 1544712661000000000, 2, "boom")


def test_protobuf_from_the_sdk_encoder_and_its_json_agree() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"warden.tenant_id": "acme"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent a", attributes={"gen_ai.operation.name": "invoke_agent"}), \
            tracer.start_as_current_span("chat m", attributes={"gen_ai.usage.input_tokens": 7}):
        pass
    request = encode_spans(exporter.get_finished_spans())
    from_proto = spans_of(decode(request.SerializeToString(), PROTOBUF))
    document = json_format.MessageToDict(request)  # proto3 JSON: ids in base64, rewritten to OTLP's hex here
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for item in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in item:
                        item[key] = base64.b64decode(item[key]).hex()
    from_json = spans_of(decode(json.dumps(document).encode(), JSON))
    assert from_proto == from_json and len(from_proto) == 2
    chat, agent = from_proto
    assert chat.parent_span_id == agent.span_id and agent.parent_span_id is None
    assert chat.resource["warden.tenant_id"] == "acme"


def test_gzip_bodies_and_limits() -> None:
    raw = json.dumps(OTLP_JSON).encode()
    assert decompress(gzip.compress(raw), "gzip", 1 << 20) == raw
    with pytest.raises(DecodeError, match="over 100 bytes"):
        decompress(gzip.compress(raw), "gzip", 100)
    with pytest.raises(DecodeError, match="not valid gzip"):
        decompress(b"not gzip", "gzip", 1 << 20)
    with pytest.raises(UnsupportedMediaError, match="br"):
        decompress(raw, "br", 1 << 20)


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b"\xff\xff\xff", PROTOBUF, "not an OTLP ExportTraceServiceRequest"),
    (b"{not json", JSON, "not JSON"),
    (b"[]", JSON, "is an object, got JSON list"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', JSON, "must be hex"),
    (b'{"resourceSpans": 3}', JSON, "not an OTLP ExportTraceServiceRequest"),
    (b"", "text/plain", "is not OTLP/HTTP"),
])
def test_bad_bodies_are_named(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode(body, content_type)


def test_partial_success_response_in_both_encodings() -> None:
    answer = ExportTraceServiceResponse.FromString(response(PROTOBUF, 2, "2 spans dead-lettered"))
    assert answer.partial_success.rejected_spans == 2
    assert json.loads(response(JSON, 2, "x")) == {"partialSuccess": {"rejectedSpans": "2", "errorMessage": "x"}}
    assert json.loads(response(JSON)) == {}
