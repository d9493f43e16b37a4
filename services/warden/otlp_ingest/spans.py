"""An OTLP/HTTP trace export (protobuf or JSON) as plain Span records, decoded with opentelemetry-proto.

Both encodings go through the one generated message, ExportTraceServiceRequest: protobuf is parsed
as it is, JSON with protobuf's json_format after the one rewrite OTLP/JSON asks of a receiver (trace
and span ids are hex strings there, where the proto3 JSON mapping of ``bytes`` is base64). Attribute
values become JSON values (bytes as base64), so a span can be kept in a checkpoint and shown in a
dead letter as it arrived.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from pydantic import BaseModel, ConfigDict

from warden.core.errors import DecodeError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class UnsupportedMediaError(DecodeError):
    """A Content-Type or Content-Encoding OTLP/HTTP does not define (answered 415)."""


_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class Span(BaseModel):
    """One span with its resource's attributes: all the mapping reads, nothing of the wire format."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_span_id: str | None = None
    name: str
    kind: int = 0
    start_ns: int
    end_ns: int
    status_code: int = 0
    status_message: str = ""
    attributes: dict[str, Any] = {}
    resource: dict[str, Any] = {}
    scope: str = ""

    @property
    def key(self) -> str:
        return f"{self.trace_id}:{self.span_id}"

    def raw(self) -> bytes:
        """What a dead letter keeps of the span: its JSON, as the mapping saw it."""
        return self.model_dump_json().encode()


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def attributes(pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        out[pair.key] = any_value(pair.value)
    return out


def _hex(raw: bytes) -> str | None:
    return raw.hex() if raw and any(raw) else None


def spans_of(request: ExportTraceServiceRequest) -> list[Span]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                spans.append(Span(
                    trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                    parent_span_id=_hex(span.parent_span_id), name=span.name, kind=span.kind,
                    start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano,
                    status_code=span.status.code, status_message=span.status.message,
                    attributes=attributes(span.attributes), resource=resource, scope=scope))
    return spans


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """gzip/deflate bodies (the exporters' ``compression`` option), refused past ``limit`` bytes unpacked."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        data = body
    elif encoding in ("gzip", "deflate"):
        unpack = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
        try:
            data = unpack.decompress(body, limit + 1)
        except zlib.error as exc:
            raise DecodeError(f"the body is not valid {encoding} data: {exc}") from exc
    else:
        raise UnsupportedMediaError(f"Content-Encoding {encoding!r} is not supported; expected gzip, deflate or none")
    if len(data) > limit:
        raise DecodeError(f"the export is over {limit} bytes (WARDEN_OTLP_MAX_BODY_BYTES)")
    return data


def _hex_to_base64(node: Any) -> Any:
    """OTLP/JSON writes trace and span ids in hex; proto3 JSON expects bytes as base64."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    value = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError as exc:
                    raise DecodeError(f"{key} must be hex digits (OTLP/JSON), got {value[:40]!r}") from exc
            else:
                value = _hex_to_base64(value)
            out[key] = value
        return out
    if isinstance(node, list):
        return [_hex_to_base64(v) for v in node]
    return node


def decode(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Raises DecodeError naming what is wrong; ``content_type`` picks protobuf or JSON."""
    media = content_type.split(";")[0].strip().lower()
    request = ExportTraceServiceRequest()
    if media == PROTOBUF:
        try:
            request.ParseFromString(body)
        except ProtobufDecodeError as exc:
            raise DecodeError(f"the body is not an OTLP ExportTraceServiceRequest (protobuf): {exc}") from exc
        return request
    if media == JSON:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise DecodeError(f"the body is not JSON: {str(exc)[:200]}") from exc
        if not isinstance(document, dict):
            raise DecodeError(f"an OTLP/JSON export is an object, got JSON {type(document).__name__}")
        try:
            json_format.ParseDict(_hex_to_base64(document), request, ignore_unknown_fields=True)
        except (json_format.ParseError, RecursionError, ValueError) as exc:
            raise DecodeError(f"the body is not an OTLP ExportTraceServiceRequest (JSON): {str(exc)[:300]}") from exc
        return request
    raise UnsupportedMediaError(f"Content-Type {content_type!r} is not OTLP/HTTP; expected {PROTOBUF} or {JSON}")


def refusal(media: str, code: int, message: str) -> bytes:
    """The body of a 4xx/5xx answer: a google.rpc.Status, in the request's encoding (OTLP/HTTP "Failures")."""
    status = Status(code=code, message=message)
    if media == JSON:
        return json_format.MessageToJson(status, indent=None).encode()
    return status.SerializeToString()


def response(media: str, rejected: int = 0, message: str = "") -> bytes:
    """The ExportTraceServiceResponse, in the request's encoding; partial_success only when spans were rejected."""
    answer = ExportTraceServiceResponse()
    if rejected:
        answer.partial_success.rejected_spans = rejected
        answer.partial_success.error_message = message
    if media == JSON:
        return json_format.MessageToJson(answer, indent=None).encode()
    return answer.SerializeToString()
