"""Schemas only add defaulted fields, so old and new services read each other's records.

Producers and consumers upgrade at different times (agent platforms ship their own SDK
versions), so both directions must hold: a new reader fills defaults into old records,
and an old reader drops fields it has never heard of.
"""

from __future__ import annotations

import copy
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.core.samples import BODIES, event, other_event
from warden.core.catalog import SCHEMAS_DIR, load_schemas
from warden.core.codec import AvroCodec
from warden.core.events import AgentEvent
from warden.core.registry import FileSchemaRegistry
from warden.core.wire import Wire, validate

NAME = "warden.AgentEvent"
TRACE_ID = {"name": "trace_id", "type": ["null", "string"], "default": None}
REASONING_TOKENS = {"name": "reasoning_tokens", "type": "long", "default": 0}


def old_schemas() -> dict[str, dict[str, Any]]:
    """Read from the file on disk, not the cached catalog, so no test can mutate what others see."""
    return {NAME: json.loads((SCHEMAS_DIR / "agent_event.avsc").read_text())}


def new_schemas() -> dict[str, dict[str, Any]]:
    """schemas/agent_event.avsc plus one defaulted field at the top level and one inside LlmCall."""
    schema = copy.deepcopy(old_schemas()[NAME])
    schema["fields"].append(TRACE_ID)
    body = next(f for f in schema["fields"] if f["name"] == "body")
    llm = next(b for b in body["type"] if b["name"] == "LlmCall")
    llm["fields"].append(REASONING_TOKENS)
    return {NAME: schema}


@pytest.fixture
def registry(tmp_path: Path) -> FileSchemaRegistry:
    return FileSchemaRegistry(tmp_path / "registry.json")


def schema_id(data: bytes) -> int:
    (found,) = struct.unpack(">I", data[1:5])
    return int(found)


def test_old_schema_is_the_one_in_schemas_dir() -> None:
    assert old_schemas()[NAME] == load_schemas()[NAME]


def test_old_and_new_get_different_ids_in_one_registry(registry: FileSchemaRegistry) -> None:
    old, new = AvroCodec(registry, old_schemas()), AvroCodec(registry, new_schemas())
    assert old.schema_id(NAME) != new.schema_id(NAME)
    assert registry.schema(new.schema_id(NAME)) == new_schemas()[NAME]
    assert registry.schema(old.schema_id(NAME)) == old_schemas()[NAME]


@pytest.mark.parametrize("event_type", sorted(BODIES))
def test_a_new_reader_reads_old_records(registry: FileSchemaRegistry, event_type: str) -> None:
    old, new = AvroCodec(registry, old_schemas()), AvroCodec(registry, new_schemas())
    original = event(event_type)
    data = old.encode(NAME, original.to_avro())
    assert schema_id(data) == old.schema_id(NAME)

    name, record = new.decode(data, NAME)

    assert name == NAME
    assert record["trace_id"] is None  # the default fills in
    branch, fields = record["body"]
    assert branch == f"warden.{type(original.body).__name__}"
    if event_type == "llm_call":
        assert fields["reasoning_tokens"] == 0
        assert fields["input_tokens"] == 812
    else:
        assert "reasoning_tokens" not in fields
    # Apart from the added fields, the new reader sees exactly what was written.
    record.pop("trace_id")
    fields.pop("reasoning_tokens", None)
    assert validate(AgentEvent, record) == original


@pytest.mark.parametrize("event_type", sorted(BODIES))
def test_an_old_reader_reads_new_records(registry: FileSchemaRegistry, event_type: str) -> None:
    old, new = AvroCodec(registry, old_schemas()), AvroCodec(registry, new_schemas())
    original = other_event(event_type)
    written = original.to_avro()
    written["trace_id"] = "trace-9"
    branch, fields = written["body"]
    if event_type == "llm_call":
        fields = {**fields, "reasoning_tokens": 55}
    written["body"] = (branch, fields)
    data = new.encode(NAME, written)
    assert schema_id(data) == new.schema_id(NAME)

    _, record = old.decode(data, NAME)

    assert "trace_id" not in record  # the extra field is dropped
    assert "reasoning_tokens" not in record["body"][1]
    # What the old reader gives still satisfies the current contract model.
    assert validate(AgentEvent, record) == original


def test_an_old_reader_in_another_process_finds_the_new_writer_schema_by_id(tmp_path: Path) -> None:
    """The reader has never seen the new schema: it resolves the writer schema from the shared registry file."""
    path = tmp_path / "registry.json"
    new = AvroCodec(FileSchemaRegistry(path), new_schemas())
    original = event("llm_call")
    written = original.to_avro()
    written["trace_id"] = "trace-1"
    data = new.encode(NAME, written)

    old_wire = Wire(AvroCodec(FileSchemaRegistry(path)))  # the default codec: the local schemas/ dir
    assert old_wire.decode(data, NAME) == original


def test_the_new_reader_reads_the_default_codecs_records(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    old_wire = Wire(AvroCodec(FileSchemaRegistry(path)))
    original = event("llm_call", user_id=None)
    _, record = AvroCodec(FileSchemaRegistry(path), new_schemas()).decode(old_wire.encode(original), NAME)
    assert record["trace_id"] is None
    assert record["user_id"] is None
    assert record["body"][1]["reasoning_tokens"] == 0


def schemas_before_release() -> dict[str, dict[str, Any]]:
    """agent_event.avsc as it was before RunStarted.release (round 2) was added."""
    schema = copy.deepcopy(old_schemas()[NAME])
    body = next(f for f in schema["fields"] if f["name"] == "body")
    started = next(b for b in body["type"] if b["name"] == "RunStarted")
    started["fields"] = [f for f in started["fields"] if f["name"] != "release"]
    return {NAME: schema}


def test_run_started_release_reads_as_null_from_a_writer_without_it(registry: FileSchemaRegistry) -> None:
    before, now = AvroCodec(registry, schemas_before_release()), Wire(AvroCodec(registry))
    original = event("run_started")
    branch, fields = original.to_avro()["body"]
    written = {**original.to_avro(), "body": (branch, {k: v for k, v in fields.items() if k != "release"})}

    decoded = now.decode(before.encode(NAME, written), NAME)

    assert isinstance(decoded, AgentEvent)
    assert decoded.body.release is None  # type: ignore[union-attr]
    assert decoded.body.release_name == decoded.body.workflow_version  # type: ignore[union-attr]


def test_an_old_reader_drops_run_started_release(registry: FileSchemaRegistry) -> None:
    before, now = AvroCodec(registry, schemas_before_release()), Wire(AvroCodec(registry))
    original = event("run_started")
    with_release = original.model_copy(update={"body": original.body.model_copy(update={"release": "v4-canary"})})

    _, record = before.decode(now.encode(with_release), NAME)

    assert "release" not in record["body"][1]
    assert validate(AgentEvent, record) == original
    assert with_release.body.release_name == "v4-canary"  # type: ignore[union-attr]
