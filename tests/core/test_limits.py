"""Hostile input is one bad record naming the limit it broke (issue 13, point 1).

Each test here failed on the code before warden.core.limits: a 10,000-level params raised
RecursionError out of Wire.decode / decode_or_skip (five services crash-looped on its offset).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.core.samples import BODIES, DEEP, avro_with, event
from warden.core import jsontext
from warden.core.codec import AvroCodec
from warden.core.errors import DecodeError, ValidationError
from warden.core.events import AgentEvent
from warden.core.limits import limits
from warden.core.registry import FileSchemaRegistry
from warden.core.wire import Wire, validate


@pytest.fixture
def wire(tmp_path: Path) -> Wire:
    return Wire(AvroCodec(FileSchemaRegistry(tmp_path / "registry.json")))


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WARDEN_LIMIT_JSON_DEPTH", "3")
    monkeypatch.setenv("WARDEN_LIMIT_PARAMS_BYTES", "100")
    limits.cache_clear()
    yield
    monkeypatch.undo()
    limits.cache_clear()


def test_params_nested_10000_levels_deep_are_a_validation_error_naming_the_limit(wire: Wire) -> None:
    data = avro_with(wire, "tool_call_requested", params='{"a": ' + DEEP + "}")
    with pytest.raises(ValidationError, match=r"params nests deeper than the limit of 32 levels "
                                              r"\(WARDEN_LIMIT_JSON_DEPTH\)"):
        wire.decode(data, "warden.AgentEvent")


def test_decode_or_skip_counts_a_hostile_record_and_the_next_one_decodes(wire: Wire) -> None:
    skipped: Counter[str] = Counter()
    hostile = [avro_with(wire, "tool_call_requested", params='{"a": ' + DEEP + "}"),
               avro_with(wire, "tool_call_completed", output=DEEP),
               avro_with(wire, "run_completed", state_change="[" * 5000)]
    for data in hostile:
        assert wire.decode_or_skip(data, "warden.AgentEvent", skipped) is None
    assert skipped["skipped_invalid"] == 3
    good = wire.encode(event("tool_call_requested"))
    assert isinstance(wire.decode_or_skip(good, "warden.AgentEvent", skipped), AgentEvent)


def test_a_message_over_the_record_size_is_a_decode_error(wire: Wire) -> None:
    data = avro_with(wire, "tool_call_completed", output=json.dumps("x" * (limits().record_bytes + 10)))
    with pytest.raises(DecodeError, match=r"over the limit of 1048576 bytes \(WARDEN_LIMIT_RECORD_BYTES\)"):
        wire.decode(data, "warden.AgentEvent")


def test_any_exception_from_the_codec_is_a_decode_error(wire: Wire, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes | None, expected: str | None = None) -> tuple[str, dict[str, Any]]:
        raise KeyError("a library bug on this one record")

    monkeypatch.setattr(wire.codec, "decode", broken)
    with pytest.raises(DecodeError, match="decoding the record raised KeyError"):
        wire.decode(b"\x00\x00\x00\x00\x01", "warden.AgentEvent")


def test_any_exception_from_a_validator_is_a_validation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def overflow(value: object) -> object:
        raise OverflowError("date value out of range")

    data = event("llm_call").model_dump()
    monkeypatch.setattr("warden.core.events.utc_millis", overflow)
    with pytest.raises(ValidationError, match="raised OverflowError"):
        validate(AgentEvent, data)


@pytest.mark.parametrize(("params", "why"), [
    ('{"amount_usd": 5, "amount_usd": 500}', "has the key 'amount_usd' twice"),
    ('{"a": NaN}', "has NaN, which is not a JSON number"),
    ('{"a": 1e999}', "number out of range (inf)"),
    ('{"a": ' + "9" * 400 + "}", "integer of 400 digits"),
    ('{"a": "x\\u0000y"}', "NUL character"),
    ('{"a": "\\ud800"}', "lone surrogate (U+D800)"),
    ('{"\\udfff": 1}', "a key that contains a lone surrogate"),
    ('{"a": "\ud800"}', "lone surrogate (U+D800)"),  # raw, as a Python caller can build it
])
def test_params_that_parse_but_break_a_rule_are_refused_naming_it(params: str, why: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(AgentEvent, {**event("tool_call_requested").model_dump(),
                              "body": {**BODIES["tool_call_requested"], "params": params}})
    assert why in str(caught.value)


@pytest.mark.parametrize("field", ["tenant_id", "run_id", "agent_id", "workflow"])
def test_text_fields_with_nul_or_a_lone_surrogate_are_refused(field: str) -> None:
    for bad in ("acme\x00", "acme\udc80"):
        with pytest.raises(ValidationError, match=f"{field}"):
            validate(AgentEvent, {**event("llm_call").model_dump(), field: bad})


def test_body_text_fields_and_infinite_numbers_are_refused() -> None:
    with pytest.raises(ValidationError, match="model"):
        validate(AgentEvent, {**event("llm_call").model_dump(), "body": {**BODIES["llm_call"], "model": "m\x00"}})
    with pytest.raises(ValidationError, match="cost_usd"):
        validate(AgentEvent, {**event("llm_call").model_dump(),
                              "body": {**BODIES["llm_call"], "cost_usd": float("inf")}})


def test_a_missing_key_is_named_never_a_key_error() -> None:
    data = event("tool_call_requested").model_dump()
    for key in ("event_id", "tenant_id", "step", "body"):
        with pytest.raises(ValidationError, match=key):
            validate(AgentEvent, {k: v for k, v in data.items() if k != key})
    body = {k: v for k, v in BODIES["tool_call_requested"].items() if k != "params"}
    with pytest.raises(ValidationError, match="params"):
        validate(AgentEvent, {**data, "body": body})


def test_operators_tune_the_limits_and_the_message_names_the_setting(small_limits: None) -> None:
    with pytest.raises(jsontext.JsonRefused, match=r"nests deeper than the limit of 3 levels"):
        jsontext.loads('{"a": {"b": {"c": {}}}}', "params", "params_bytes")
    assert jsontext.loads('{"a": {"b": {}}}', "params", "params_bytes") == {"a": {"b": {}}}
    with pytest.raises(jsontext.JsonRefused, match=r"over the limit of 100 bytes \(WARDEN_LIMIT_PARAMS_BYTES\)"):
        jsontext.loads(json.dumps({"a": "é" * 60}), "params", "params_bytes")


def test_exact_numbers_keep_what_was_written() -> None:
    assert str(jsontext.loads('{"a": 100.000000000000001}', "p", "params_bytes", exact=True)["a"]) == \
        "100.000000000000001"
