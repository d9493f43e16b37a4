"""The rollout-controller's view of an agent event checks every field it carries exactly as AgentEvent does
(ADR 0020), and the controller decides the same on the views as on the whole events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from tests.rollout.helpers import T0, config, plan, start_command, traffic
from warden.core.errors import ValidationError
from warden.core.events import AgentEvent, LlmCall, RunCompleted, RunStarted
from warden.core.records import RolloutDecision
from warden.core.views import full_model
from warden.core.wire import validate
from warden.rollout import controller
from warden.rollout.event_view import (
    EVENT_FIELDS,
    VIEW_BODIES,
    AgentEventView,
    LlmCallView,
    RunCompletedView,
    RunStartedView,
)
from warden.rollout.gates import Gates

PAIRS: list[tuple[type[BaseModel], type[BaseModel]]] = [
    (AgentEventView, AgentEvent), (RunStartedView, RunStarted), (LlmCallView, LlmCall),
    (RunCompletedView, RunCompleted)]


def field_validators(model: type[BaseModel], name: str) -> set[Any]:
    """The functions of the model's field validators that apply to ``name``, with their mode."""
    found = set()
    for decorator in model.__pydantic_decorators__.field_validators.values():
        if name in decorator.info.fields:
            found.add((getattr(decorator.func, "__func__", decorator.func), decorator.info.mode))
    return found


@pytest.mark.parametrize(("view", "full"), PAIRS, ids=[v.__name__ for v, _ in PAIRS])
def test_every_view_field_has_the_full_models_type_default_constraints_and_validators(
        view: type[BaseModel], full: type[BaseModel]) -> None:
    assert full_model(view) is full
    for name, info in view.model_fields.items():
        if view is AgentEventView and name == "body":
            continue  # the views of the bodies, checked below
        mine, theirs = info, full.model_fields[name]
        assert mine.annotation == theirs.annotation, name
        assert mine.default == theirs.default and mine.default_factory == theirs.default_factory, name
        assert mine.metadata == theirs.metadata, name  # min_length, ge, ...
        assert field_validators(view, name) == field_validators(full, name), name
    assert view.model_config.get("allow_inf_nan", True) == full.model_config.get("allow_inf_nan", True)
    assert view.model_config.get("frozen") == full.model_config.get("frozen")


def test_the_event_view_carries_what_the_controller_uses_and_its_bodies_are_views() -> None:
    assert set(AgentEventView.model_fields) == {*EVENT_FIELDS, "body"}
    assert {full_model(v) for v in VIEW_BODIES.values()} == {RunStarted, LlmCall, RunCompleted}
    assert set(controller.READS) == {t.value for t in VIEW_BODIES}


def events() -> list[AgentEvent]:
    return [e for e in traffic(T0, 4) if e.event_type.value in controller.READS]


def spoil(event: AgentEvent, changes: dict[str, Any]) -> dict[str, Any]:
    record = event.to_json_view()
    for name, value in changes.items():
        if name.startswith("body."):
            record["body"] = {**record["body"], name[5:]: value}
        else:
            record[name] = value
    return record


KIND = {"run_started": 0, "llm_call": 1, "run_completed": 2}
# A bad value of a field the controller acts on: refused by the view as by the full model.
REFUSED = [
    ("llm_call", {"event_id": "not-a-uuid"}, "event_id"),
    ("llm_call", {"tenant_id": ""}, "tenant_id"),
    ("run_started", {"workflow": ""}, "workflow"),
    ("run_completed", {"run_id": ""}, "run_id"),
    ("llm_call", {"occurred_at": "yesterday"}, "occurred_at"),
    ("llm_call", {"event_type": "llm_cal"}, "event_type"),
    ("llm_call", {"tenant_id": "acme\x00"}, "NUL"),
    ("llm_call", {"body.input_tokens": -1}, "input_tokens"),
    ("llm_call", {"body.cached_tokens": -3}, "cached_tokens"),
    ("llm_call", {"body.cost_usd": -0.5}, "cost_usd"),
    ("llm_call", {"body.cost_usd": float("inf")}, "cost_usd"),
    ("llm_call", {"body.model": "m\ud800"}, "surrogate"),
    ("run_started", {"body.release": "v4\x00"}, "NUL"),
    ("run_started", {"body.workflow_version": None}, "workflow_version"),
    ("run_completed", {"body.status": "done"}, "status"),
    ("run_completed", {"event_type": "llm_call"}, "body"),  # a body that is not the type's
]
# A bad value of a field it does not act on: the full model refuses it, the view does not read it.
LENIENT = [
    ("llm_call", {"agent_id": ""}),
    ("llm_call", {"step": 0}),
    ("llm_call", {"body.latency_ms": -1.0}),
    ("llm_call", {"body.cache_hit": True}),  # a hit without its cache_key
    ("run_started", {"body.prompt_version": None}),
    ("run_completed", {"body.state_change": "{not json"}),
]


@pytest.mark.parametrize(("kind", "changes", "named"), REFUSED, ids=[str(c) for _, c, _ in REFUSED])
def test_a_bad_acted_on_field_is_refused_by_the_view_as_by_the_full_model(
        kind: str, changes: dict[str, Any], named: str) -> None:
    record = spoil(events()[KIND[kind]], changes)
    with pytest.raises(ValidationError) as full:
        validate(AgentEvent, record)
    with pytest.raises(ValidationError) as view:
        validate(AgentEventView, record)
    assert named in str(full.value) and named in str(view.value)


@pytest.mark.parametrize(("kind", "changes"), LENIENT, ids=[str(c) for _, c in LENIENT])
def test_a_bad_field_it_does_not_act_on_is_the_full_models_refusal_only(kind: str, changes: dict[str, Any]) -> None:
    record = spoil(events()[KIND[kind]], changes)
    with pytest.raises(ValidationError):
        validate(AgentEvent, record)
    assert validate(AgentEventView, record).event_id == record["event_id"]  # type: ignore[attr-defined]


def test_the_view_reads_the_avro_record_as_the_full_model_does() -> None:
    for e in events():
        view: Any = validate(AgentEventView, e.to_avro())
        assert (view.event_id, view.event_type, view.occurred_at, view.tenant_id, view.workflow, view.run_id) == \
            (e.event_id, e.event_type, e.occurred_at, e.tenant_id, e.workflow, e.run_id)
        assert view.body.model_dump() == {k: getattr(e.body, k) for k in view.body.model_dump()}


def test_the_controller_decides_the_same_on_views_as_on_whole_events() -> None:
    the_plan = plan(gates=Gates(cost_increase_vs_baseline_max=0.20))
    stream = traffic(T0, 60, vary=0.01) + traffic(T0 + timedelta(minutes=12), 60, candidate_cost=0.10, prefix="s")
    stream.sort(key=lambda e: e.occurred_at)
    outputs: list[list[Any]] = []
    for as_view in (False, True):
        state, made = controller.ControllerState(), []
        _, out = controller.step(state, config(), start_command(the_plan))
        made += out
        for e in stream:
            message = validate(AgentEventView, e.to_avro()) if as_view else e
            _, out = controller.feed(state, config(), message, "replay")
            made += out
        outputs.append([o.record for o in made])
    assert outputs[0] == outputs[1]
    assert "rollback" in [r.decision.value for r in outputs[0] if isinstance(r, RolloutDecision)]
