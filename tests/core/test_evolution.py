"""Schemas only add defaulted fields: old and new readers read each other's records."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.core.samples import event
from warden.core.catalog import load_schemas
from warden.core.codec import AvroCodec
from warden.core.events import AgentEvent
from warden.core.registry import FileSchemaRegistry
from warden.core.wire import validate

NAME = "warden.AgentEvent"


def new_schemas() -> dict[str, dict[str, Any]]:
    schemas = copy.deepcopy(load_schemas())
    schema = schemas[NAME]
    schema["fields"].append({"name": "trace_id", "type": ["null", "string"], "default": None})
    llm = next(b for b in schema["fields"][-2]["type"] if b["name"] == "LlmCall")
    llm["fields"].append({"name": "reasoning_tokens", "type": "long", "default": 0})
    return schemas


def test_a_new_reader_reads_old_records(tmp_path: Path) -> None:
    registry = FileSchemaRegistry(tmp_path / "registry.json")
    old, new = AvroCodec(registry), AvroCodec(registry, new_schemas())
    original = event("llm_call")
    name, record = new.decode(old.encode(NAME, original.to_avro()))
    assert name == NAME
    assert record["trace_id"] is None
    assert record["body"][1]["reasoning_tokens"] == 0
    assert record["body"][1]["input_tokens"] == 812


def test_an_old_reader_reads_new_records(tmp_path: Path) -> None:
    registry = FileSchemaRegistry(tmp_path / "registry.json")
    old, new = AvroCodec(registry), AvroCodec(registry, new_schemas())
    original = event("llm_call")
    written = original.to_avro()
    written["trace_id"] = "trace-9"
    written["body"] = (written["body"][0], {**written["body"][1], "reasoning_tokens": 55})
    assert old.schema_id(NAME) != new.schema_id(NAME)
    _, record = old.decode(new.encode(NAME, written))
    assert "trace_id" not in record
    assert "reasoning_tokens" not in record["body"][1]
    assert validate(AgentEvent, record) == original
