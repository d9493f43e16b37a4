"""AvroCodec.decode_fields (warden.core.codec_fields) reads what fastavro reads: the same values for the fields
named, a DecodeError for the same bytes, fastavro itself for schemas it does not handle (ADR 0024). Every test
runs on the compiled reader (warden/core/_avro_fast.pyx, ADR 0029) and on the generated Python one alone."""

from __future__ import annotations

import copy
import io
import random
from pathlib import Path
from typing import Any

import fastavro
import pytest

from tests.core.samples import event, every_record, other_event
from tests.core.test_evolution import schemas_before_release
from warden.core import codec_fields
from warden.core.catalog import load_schemas
from warden.core.codec import AvroCodec
from warden.core.codec_fields import fields_reader
from warden.core.errors import DecodeError
from warden.core.events import AgentEvent, EventType
from warden.core.registry import FileSchemaRegistry
from warden.core.views import fields_read
from warden.core.wire import Wire
from warden.rollout.event_view import AgentEventView

NAME = "warden.AgentEvent"
WANTED = fields_read(AgentEventView)


@pytest.fixture(autouse=True, params=["compiled", "python"])
def reader_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(codec_fields, "COMPILED", request.param == "compiled")
    monkeypatch.setattr(codec_fields, "_MADE", {})  # readers made in the other mode are not reused
    return str(request.param)


@pytest.fixture
def registry(tmp_path: Path) -> FileSchemaRegistry:
    return FileSchemaRegistry(tmp_path / "registry.json")


@pytest.fixture
def wire(registry: FileSchemaRegistry) -> Wire:
    return Wire(AvroCodec(registry))


def restricted(record: dict[str, Any], wanted: dict[str, frozenset[str]] | Any = WANTED) -> dict[str, Any]:
    """What decode_fields should build of fastavro's whole record."""
    out = {k: v for k, v in record.items() if k in wanted["AgentEvent"]}
    branch, body = record["body"]
    short = branch.rpartition(".")[2]
    out["body"] = (branch, {k: v for k, v in body.items() if k in wanted[short]} if short in wanted else body)
    return out


def events() -> list[AgentEvent]:
    """Every body, both sides of every optional field, a routing decision, a cache hit, text beyond ASCII."""
    found = [e for e in every_record() if isinstance(e, AgentEvent)]
    found += [other_event(t.value) for t in EventType]
    found += [
        event("run_started", agent_id="agent-ü", body={"workflow_version": "v3", "prompt_version": "p",
                                                        "model": "m", "release": "v4-canary"}),
        event("llm_call", body={"model": "gpt-4o", "provider": "openai", "input_tokens": 0, "output_tokens": 0,
                                "latency_ms": 0.0, "route": "cheap", "route_decision": {
                                    "kind": "route", "rule": "r1", "policy_version": "p1", "features": "{}",
                                    "from_route": None, "reason": "because", "confidence": 0.5}}),
        event("llm_call", body={"model": "gpt-4o", "provider": "openai", "input_tokens": 10, "output_tokens": 3,
                                "latency_ms": 1.5, "cache_key": "k1", "cache_hit": True, "cache_pii": "email",
                                "saved_input_tokens": 300, "saved_output_tokens": 40, "saved_usd": 0.01}),
        event("llm_call", occurred_at=event("llm_call").occurred_at.replace(year=1969)),  # before the epoch
    ]
    return found


@pytest.mark.parametrize("one", events(), ids=lambda e: e.event_type.value)
def test_the_fields_named_decode_to_fastavros_values(wire: Wire, one: AgentEvent) -> None:
    data = wire.encode(one)
    name, whole = wire.codec.decode(data, NAME)
    assert wire.codec.decode_fields(data, NAME, WANTED) == (name, restricted(whole))


def test_a_record_not_named_is_built_whole_and_nothing_named_is_built_empty(wire: Wire) -> None:
    one = event("tool_call_requested")
    data = wire.encode(one)
    _, whole = wire.codec.decode(data, NAME)
    assert wire.codec.decode_fields(data, NAME, WANTED)[1]["body"] == whole["body"]  # no ToolCallRequested view
    nothing = {"AgentEvent": frozenset({"event_id"}), "ToolCallRequested": frozenset()}
    assert wire.codec.decode_fields(data, NAME, nothing)[1] == {"event_id": one.event_id}


def spoiled(data: bytes, seed: int) -> list[bytes]:
    """Every truncation, and single bytes changed at random places (keeping the 5-byte header)."""
    rng = random.Random(seed)
    out = [data[:cut] for cut in range(5, len(data))]
    out += [data + b"\x00"]
    for _ in range(300):
        at = rng.randrange(5, len(data))
        out.append(data[:at] + bytes([rng.randrange(256)]) + data[at + 1:])
    return out


@pytest.mark.parametrize("one", events(), ids=lambda e: e.event_type.value)
def test_bytes_fastavro_refuses_are_refused_and_what_it_reads_is_read_alike(wire: Wire, one: AgentEvent) -> None:
    for n, bad in enumerate(spoiled(wire.encode(one), 20261202)):
        try:
            _, whole = wire.codec.decode(bad, NAME)
        except DecodeError:
            with pytest.raises(DecodeError):
                wire.codec.decode_fields(bad, NAME, WANTED)
            continue
        assert wire.codec.decode_fields(bad, NAME, WANTED)[1] == restricted(whole), n


def test_a_string_left_out_that_is_no_utf8_is_refused_as_fastavro_refuses_it(wire: Wire) -> None:
    one = event("llm_call", agent_id="agent-é")  # agent_id: not in the view
    data = wire.encode(one)
    broken = data.replace("agent-é".encode(), b"agent-\xff\xfe")
    with pytest.raises(DecodeError):
        wire.codec.decode(broken, NAME)
    with pytest.raises(DecodeError, match="UnicodeDecodeError"):
        wire.codec.decode_fields(broken, NAME, WANTED)


def test_a_varint_longer_than_a_long_is_refused() -> None:
    schema = fastavro.parse_schema({"type": "record", "name": "X", "fields": [{"name": "n", "type": "long"}]})
    read = fields_reader(schema, {})
    assert read is not None
    assert read(b"\x80" * 9 + b"\x01", 0) == ({"n": 2**62}, 10)
    with pytest.raises(ValueError, match="ten bytes"):
        read(b"\x80" * 10 + b"\x01", 0)


def test_a_writer_schema_other_than_the_local_one_is_decoded_by_fastavro(registry: FileSchemaRegistry) -> None:
    before, now = AvroCodec(registry, schemas_before_release()), Wire(AvroCodec(registry))
    original = event("run_started")
    branch, fields = original.to_avro()["body"]
    data = before.encode(NAME, {**original.to_avro(),
                                "body": (branch, {k: v for k, v in fields.items() if k != "release"})})
    _, whole = now.codec.decode(data, NAME)
    assert whole["body"][1]["release"] is None  # resolved against the local schema: the default
    assert now.codec.decode_fields(data, NAME, WANTED)[1] == whole  # whole: fastavro decoded it


def test_a_schema_with_a_type_it_does_not_build_gets_no_decoder() -> None:
    schema = copy.deepcopy(load_schemas()[NAME])
    schema["fields"].append({"name": "tags", "type": {"type": "array", "items": "string"}, "default": []})
    assert fields_reader(fastavro.parse_schema(schema), WANTED) is None
    assert fields_reader(fastavro.parse_schema(load_schemas()[NAME]), WANTED) is not None


def test_the_views_fields_are_what_the_controller_reads() -> None:
    assert {
        "AgentEvent": frozenset({"event_id", "event_type", "occurred_at", "tenant_id", "workflow", "run_id", "body"}),
        "RunStarted": frozenset({"workflow_version", "release"}),
        "LlmCall": frozenset({"model", "input_tokens", "output_tokens", "cached_tokens", "cost_usd"}),
        "RunCompleted": frozenset({"status"})} == WANTED


SMALL = fastavro.parse_schema({"type": "record", "name": "X", "fields": [
    {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["a", "b", "c"]}},
    {"name": "u", "type": ["null", "string", "long"]}, {"name": "b", "type": "boolean"},
    {"name": "d", "type": "double"}, {"name": "s", "type": "string"}]})


@pytest.mark.parametrize("data", [
    bytes([0x03, 0x00, 0x01]) + bytes(8) + b"\x02a",  # enum index -2: fastavro counts from the end
    bytes([0x00, 0x01, 0x01, 0x01]) + bytes(8) + b"\x00",  # union index -1: its last branch (a long)
    bytes([0x00, 0x03, 0x02, 0x61, 0x05]) + bytes(8) + b"\x00",  # union index -2; a boolean byte 5 is true
    bytes([0x06, 0x00, 0x00]) + bytes(8) + b"\x00",  # enum index 3 of 3
    bytes([0x00, 0x06, 0x00]) + bytes(8) + b"\x00",  # union index 3 of 3
    bytes([0x00, 0x02, 0x03, 0x61, 0x00]) + bytes(8) + b"\x00",  # a string of length -2
    bytes([0x00, 0x00, 0x00]) + bytes(7),  # a double cut short
    bytes([0x04, 0x02, 0x02, 0x61, 0x05]) + b"\x00\x00\x00\x00\x00\x00\xf0\x3f" + b"\x04\xc3\xa9",  # all valid
    bytes([0x02, 0x04, 0x81, 0x01, 0x00]) + b"\x00\x00\x00\x00\x00\x00\x04\x40" + b"\x00",  # long -65; false
], ids=["enum-2", "union-1", "union-2", "enum3", "union3", "length-2", "short", "valid", "valid-false"])
def test_indexes_and_lengths_are_read_as_fastavro_reads_them(data: bytes) -> None:
    read = fields_reader(SMALL, {})
    assert read is not None
    try:
        stream = io.BytesIO(data)
        expected = fastavro.schemaless_reader(stream, SMALL, None, return_record_name=True)
        assert stream.tell() == len(data)
    except Exception:
        with pytest.raises(Exception):  # noqa: B017  # the codec turns any of them into a DecodeError
            _, end = read(data, 0)
            assert end == len(data)
        return
    assert read(data, 0) == (expected, len(data))

