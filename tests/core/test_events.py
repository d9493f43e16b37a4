"""The pydantic models and the Avro schemas say the same thing; the models add the rules Avro cannot."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest

from tests.core.samples import BODIES, event
from warden.core.catalog import MODELS, load_schemas
from warden.core.errors import ValidationError
from warden.core.events import BODY_TYPES, AgentEvent, EventType
from warden.core.wire import validate


def avro_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {f["name"]: f["type"] for f in record["fields"]}


def nullable(avro_type: Any) -> bool:
    return isinstance(avro_type, list) and "null" in avro_type


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_fields_match_the_avro_schema(name: str) -> None:
    schema = avro_fields(load_schemas()[name])
    model = MODELS[name]
    assert set(model.model_fields) == set(schema)
    for field, avro_type in schema.items():
        if field == "body":
            continue
        optional = type(None) in get_args(model.model_fields[field].annotation)
        assert optional == nullable(avro_type), field


def test_each_body_matches_its_union_branch() -> None:
    branches = {b["name"]: avro_fields(b) for b in avro_fields(load_schemas()["warden.AgentEvent"])["body"]}
    for model in BODY_TYPES.values():
        assert set(model.model_fields) == set(branches[model.__name__]), model.__name__


def invalid(**changes: Any) -> str:
    data = json.loads(json.dumps(event("llm_call").to_json_view()))
    data.update(changes)
    with pytest.raises(ValidationError) as err:
        validate(AgentEvent, data)
    return str(err.value)


def test_step_zero_is_refused() -> None:
    assert "step" in invalid(step=0)


def test_negative_tokens_are_refused() -> None:
    assert "input_tokens" in invalid(body={**BODIES["llm_call"], "input_tokens": -1})


def test_body_of_the_wrong_shape_is_refused() -> None:
    assert "body" in invalid(event_type="tool_call_requested")


def test_avro_branch_that_contradicts_event_type_is_refused() -> None:
    record = event("llm_call").to_avro()
    record["event_type"] = EventType.TOOL_CALL_REQUESTED.value
    with pytest.raises(ValidationError, match="body is a LlmCall but event_type 'tool_call_requested'"):
        validate(AgentEvent, record)


@pytest.mark.parametrize("params", ["[1, 2]", "not json", "42"])
def test_params_must_be_a_json_object(params: str) -> None:
    body = {**BODIES["tool_call_requested"], "params": params}
    assert "params must be a JSON object" in invalid(event_type="tool_call_requested", body=body)


def test_event_id_must_be_a_uuid() -> None:
    assert "event_id must be a UUID" in invalid(event_id="evt-1")


def test_json_view_round_trips() -> None:
    original = event("tool_call_requested")
    view = json.loads(json.dumps(original.to_json_view()))
    assert view["occurred_at"] == "2026-11-24T09:30:01.123Z"
    assert validate(AgentEvent, view) == original
