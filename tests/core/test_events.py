"""The pydantic models and the Avro schemas say the same thing; the models add the rules Avro cannot.

schemas/ is the source of truth and the models are written by hand, so this is what keeps
them from drifting: a field added to one and not the other fails here, not in production.
"""

from __future__ import annotations

import json
import types
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from tests.core.samples import BODIES, event
from warden.core.catalog import MODELS, load_schemas
from warden.core.errors import ValidationError
from warden.core.events import BODY_TYPES, AgentEvent, EventType
from warden.core.wire import validate

AVRO_PRIMITIVES: dict[str, type] = {
    "string": str, "int": int, "long": int, "double": float, "float": float, "boolean": bool, "bytes": bytes,
}


def avro_fields(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in record["fields"]}


def nullable(avro_type: Any) -> bool:
    return isinstance(avro_type, list) and "null" in avro_type


def strip(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without Optional and Annotated, whether None was allowed)."""
    optional = False
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        optional = type(None) in args
        rest = [a for a in args if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else annotation
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation, optional


NAMED: dict[str, dict[str, Any]] = {}  # named record types met so far, for references by name


def check_type(where: str, avro_type: Any, annotation: Any) -> None:
    """The model's Python type is what fastavro reads for the Avro type."""
    if isinstance(avro_type, list):
        (avro_type,) = [t for t in avro_type if t != "null"]
    if isinstance(avro_type, str) and avro_type not in AVRO_PRIMITIVES:
        avro_type = NAMED[avro_type.removeprefix("warden.")]
    if isinstance(avro_type, str):
        # A string the model narrows to an enum of its own (symbols Avro leaves open, so adding one is safe).
        string_enum = avro_type == "string" and isinstance(annotation, type) and issubclass(annotation, str)
        assert annotation is AVRO_PRIMITIVES[avro_type] or string_enum, where
    elif avro_type["type"] == "record":
        NAMED[avro_type["name"]] = avro_type
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel), where
        check_record(where, avro_type, annotation, frozenset())
    elif avro_type.get("logicalType") == "timestamp-millis":
        assert annotation is datetime, where
    elif avro_type["type"] == "enum":
        assert isinstance(annotation, type) and issubclass(annotation, Enum), where
        assert {m.value for m in annotation} == set(avro_type["symbols"]), where
    elif avro_type["type"] == "array":
        assert get_origin(annotation) is list, where
        assert get_args(annotation)[0] is AVRO_PRIMITIVES[avro_type["items"]], where
    elif avro_type["type"] == "map":
        assert get_origin(annotation) is dict, where
        key, value = get_args(annotation)
        assert key is str, where
        check_type(f"{where}[]", avro_type["values"], value)
    else:
        pytest.fail(f"{where}: no check for Avro type {avro_type}")


def check_record(where: str, schema: dict[str, Any], model: type[BaseModel], skip: frozenset[str]) -> None:
    fields = avro_fields(schema)
    assert list(model.model_fields) == list(fields), f"{where}: model and Avro fields differ"
    for name, spec in fields.items():
        if name in skip:
            continue
        info = model.model_fields[name]
        annotation, optional = strip(info.annotation)
        assert optional == nullable(spec["type"]), f"{where}.{name}: Optional in the model iff nullable in Avro"
        check_type(f"{where}.{name}", spec["type"], annotation)
        if "default" in spec:
            assert not info.is_required(), f"{where}.{name}: Avro default but required in the model"
            default = info.get_default(call_default_factory=True)
            assert default == spec["default"], f"{where}.{name}: defaults differ"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_fields_match_the_avro_schema(name: str) -> None:
    check_record(name, load_schemas()[name], MODELS[name], frozenset({"body"}))


def test_every_schema_has_a_model() -> None:
    assert set(load_schemas()) == set(MODELS)


def avro_body_branches() -> dict[str, dict[str, Any]]:
    body = avro_fields(load_schemas()["warden.AgentEvent"])["body"]
    return {branch["name"]: branch for branch in body["type"]}


def test_the_body_union_has_one_branch_per_event_type() -> None:
    assert set(avro_body_branches()) == {model.__name__ for model in BODY_TYPES.values()}
    symbols = avro_fields(load_schemas()["warden.AgentEvent"])["event_type"]["type"]["symbols"]
    assert set(symbols) == {e.value for e in EventType} == {e.value for e in BODY_TYPES}


@pytest.mark.parametrize("event_type", list(EventType), ids=str)
def test_each_body_model_matches_its_union_branch(event_type: EventType) -> None:
    model = BODY_TYPES[event_type]
    check_record(f"AgentEvent.body.{model.__name__}", avro_body_branches()[model.__name__], model, frozenset())


# --- validation: the rules Avro cannot state, as ValidationError naming the field --------------------


def json_view(event_type: str = "llm_call") -> dict[str, Any]:
    view: dict[str, Any] = json.loads(json.dumps(event(event_type).to_json_view()))
    return view


def invalid(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as err:
        validate(AgentEvent, data)
    message = str(err.value)
    assert message.startswith("invalid AgentEvent: "), message
    return message


def test_the_samples_are_valid() -> None:
    for event_type in BODIES:
        assert validate(AgentEvent, json_view(event_type)).event_type == event_type


@pytest.mark.parametrize("step", [0, -3])
def test_step_must_be_at_least_one(step: int) -> None:
    message = invalid({**json_view(), "step": step})
    assert f"step: Input should be greater than or equal to 1 (got {step})" in message


def test_negative_input_tokens_are_refused() -> None:
    message = invalid({**json_view(), "body": {**BODIES["llm_call"], "input_tokens": -1}})
    assert "body does not fit a LlmCall (event_type 'llm_call'): " in message
    assert "input_tokens: Input should be greater than or equal to 0" in message


def test_a_dict_body_of_the_wrong_shape_is_refused() -> None:
    """An LlmCall body under event_type tool_call_requested: the fields of the expected body are named."""
    message = invalid({**json_view("llm_call"), "event_type": "tool_call_requested"})
    assert "body does not fit a ToolCallRequested (event_type 'tool_call_requested')" in message
    assert "call_id: Field required" in message
    assert "input_tokens: Extra inputs are not permitted" in message


def test_an_avro_branch_that_contradicts_event_type_is_refused() -> None:
    record = event("llm_call").to_avro()
    record["event_type"] = "tool_call_requested"
    assert record["body"][0] == "warden.LlmCall"
    message = invalid(record)
    assert "body is a LlmCall but event_type 'tool_call_requested' needs a ToolCallRequested" in message


def test_a_literal_avro_branch_tuple_is_checked_too() -> None:
    data = {**json_view(), "event_type": "tool_call_requested",
            "body": ("warden.LlmCall", dict(BODIES["llm_call"]))}
    assert "body is a LlmCall but event_type 'tool_call_requested'" in invalid(data)


def test_a_body_model_of_the_wrong_type_is_refused() -> None:
    data = {**json_view(), "event_type": "run_started", "body": event("llm_call").body}
    assert "body is a LlmCall but event_type 'run_started' needs a RunStarted" in invalid(data)


@pytest.mark.parametrize("body", ["x", 5, ["model"]])
def test_a_body_that_is_no_record_is_refused(body: object) -> None:
    """The body field is validated by the event_type rule alone (not again as the union): anything else is named."""
    message = invalid({**json_view(), "body": body})
    assert f"body must be a LlmCall record (event_type 'llm_call'), got {type(body).__name__}" in message


def test_a_missing_body_is_said_to_be_required() -> None:
    assert "body is required: a LlmCall record (event_type 'llm_call')" in invalid({**json_view(), "body": None})


def test_any_mapping_is_read_as_a_dict() -> None:
    """A mapping that is not a dict skipped the event_type rule, and the body (no longer validated again as the
    union) went unchecked; a mapping as the body is a record too."""
    from types import MappingProxyType

    assert "body must be a LlmCall record" in invalid(MappingProxyType({**json_view(), "body": "x"}))  # type: ignore[arg-type]
    body = MappingProxyType(dict(BODIES["llm_call"]))
    assert validate(AgentEvent, {**json_view(), "body": body}).body.model_dump() == validate(
        AgentEvent, json_view()).body.model_dump()


@pytest.mark.parametrize("event_type", list(BODIES))
def test_a_body_is_checked_for_text_once(event_type: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its text rule ran twice (the body built by the event_type rule, then the union re-ran its after-validators):
    a quarter of a view's validation in the rollout-controller."""
    import warden.core.events as events

    record = event(event_type).to_avro()
    checked: list[str] = []
    real = events._check_strings

    def counting(model: BaseModel) -> None:
        checked.append(type(model).__name__)
        real(model)

    monkeypatch.setattr(events, "_check_strings", counting)
    validate(AgentEvent, record)
    assert sorted(checked) == sorted(["AgentEvent", BODY_TYPES[EventType(event_type)].__name__])


@pytest.mark.parametrize(("params", "why"), [
    ("[1,2]", "got JSON list"),
    ("not json", "got unparsable text 'not json'"),
    ("42", "got JSON int"),
    ("", "got unparsable text"),
])
def test_params_must_be_a_json_object(params: str, why: str) -> None:
    body = {**BODIES["tool_call_requested"], "params": params}
    message = invalid({**json_view(), "event_type": "tool_call_requested", "body": body})
    assert "params" in message
    assert f"params must be a JSON object, {why}" in message


def test_output_must_be_json_text() -> None:
    body = {**BODIES["tool_call_completed"], "output": "{oops"}
    message = invalid({**json_view(), "event_type": "tool_call_completed", "body": body})
    assert "output must be JSON text, got '{oops'" in message


@pytest.mark.parametrize("event_id", ["evt-1", "", "123"])
def test_event_id_must_be_a_uuid(event_id: str) -> None:
    message = invalid({**json_view(), "event_id": event_id})
    assert f"event_id: event_id must be a UUID, got {event_id!r}" in message


def test_unknown_event_type_names_the_field() -> None:
    message = invalid({**json_view(), "event_type": "llm_called"})
    assert "event_type" in message
    assert "'llm_called'" in message


def test_unknown_fields_are_refused() -> None:
    assert "trace_id: Extra inputs are not permitted" in invalid({**json_view(), "trace_id": "t"})


def test_every_problem_is_reported_at_once() -> None:
    message = invalid({**json_view(), "step": 0, "event_id": "nope", "tenant_id": ""})
    for field in ("step", "event_id", "tenant_id"):
        assert f"{field}:" in message


def test_json_view_round_trips() -> None:
    original = event("tool_call_requested")
    view = json.loads(json.dumps(original.to_json_view()))
    assert view["occurred_at"] == "2026-11-24T09:30:01.123Z"
    assert validate(AgentEvent, view) == original
