"""Run context and event building: no broker, no client; what every emitted event is made of."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from warden.core.errors import ValidationError
from warden.core.events import AgentEvent, EventType, LlmCall, RunCompleted, ToolCallCompleted, ToolCallRequested
from warden.sdk.run import RunEvents


def events(user_id: str | None = None) -> RunEvents:
    return RunEvents("acme", "refund_ticket", "agent-1", "run-1", user_id)


def test_steps_count_from_one_and_every_event_takes_the_next() -> None:
    run = events()
    built = [
        run.started("v3", "p2", "gpt-4o-mini", None),
        run.llm_call("gpt-4o-mini", "openai", 812, 96, 640.0, 0, None, None),
        run.tool_call_requested("crm", "lookup", {"customer_id": "c1"}, None, None, None),
        run.tool_call_completed("c1", "crm", "ok", 12.0, None, None, None),
        run.run_completed("succeeded", None, None),
    ]
    assert [e.step for e in built] == [1, 2, 3, 4, 5]
    assert [e.event_type for e in built] == list(EventType)
    assert run.step == 5


def test_a_refused_event_takes_no_step_number() -> None:
    run = events()
    run.started("v1", "p1", "gpt-4o", None)
    with pytest.raises(ValidationError):
        run.llm_call("gpt-4o", "openai", -1, 0, 1.0, 0, None, None)
    assert run.step == 1
    assert run.llm_call("gpt-4o", "openai", 1, 0, 1.0, 0, None, None).step == 2


def test_every_event_carries_the_run_context_and_a_fresh_event_id() -> None:
    run = events(user_id="u-42")
    first = run.started("v1", "p1", "gpt-4o", None)
    second = run.llm_call("gpt-4o", "openai", 1, 2, 3.0, 0, 0.001, None)
    for event in (first, second):
        assert (event.tenant_id, event.workflow, event.agent_id, event.run_id, event.user_id) == (
            "acme", "refund_ticket", "agent-1", "run-1", "u-42")
        assert uuid.UUID(event.event_id).version == 4
    assert first.event_id != second.event_id


def test_tool_calls_get_a_call_id_unless_the_caller_brings_one() -> None:
    run = events()
    generated = run.tool_call_requested("crm", "lookup", {"customer_id": "c1"}, None, None, None)
    assert isinstance(generated.body, ToolCallRequested)
    assert uuid.UUID(generated.body.call_id)
    given = run.tool_call_requested("crm", "lookup", {"customer_id": "c1"}, "crm:c1", "call-7", None)
    assert isinstance(given.body, ToolCallRequested)
    assert (given.body.call_id, given.body.resource) == ("call-7", "crm:c1")


def test_params_and_outputs_are_sent_as_json_text() -> None:
    run = events()
    requested = run.tool_call_requested("payments", "refund", {"order_id": "o1", "amount_usd": 42.5}, None, None,
                                        None)
    assert isinstance(requested.body, ToolCallRequested)
    assert requested.body.params_dict() == {"order_id": "o1", "amount_usd": 42.5}
    as_text = run.tool_call_requested("crm", "lookup", '{"customer_id": "c1"}', None, None, None)
    assert isinstance(as_text.body, ToolCallRequested)
    assert as_text.body.params == '{"customer_id": "c1"}'  # text is sent as the caller wrote it
    done = run.tool_call_completed("c1", "reports", "ok", 5.0, [{"row": 1}], None, None)
    assert isinstance(done.body, ToolCallCompleted)
    assert json.loads(done.body.output or "null") == [{"row": 1}]
    end = run.run_completed("succeeded", {"refunded": 42.5}, None)
    assert isinstance(end.body, RunCompleted)
    assert json.loads(end.body.state_change or "null") == {"refunded": 42.5}


@pytest.mark.parametrize(("build", "message"), [
    (lambda r: r.llm_call("m", "openai", -5, 10, 100.0, 0, None, None), r"input_tokens.*got -5"),
    (lambda r: r.llm_call("m", "openai", 5, 10, 100.0, -1, None, None), r"cached_tokens"),
    (lambda r: r.llm_call("m", "openai", 5, 10, -1.0, 0, None, None), r"latency_ms"),
    (lambda r: r.llm_call("m", "openai", 5, 10, 1.0, 0, -0.5, None), r"cost_usd"),
    (lambda r: r.tool_call_requested("crm", "lookup", "[1, 2]", None, None, None), "params must be a JSON object"),
    (lambda r: r.tool_call_requested("crm", "lookup", [1, 2], None, None, None), "params must be a JSON object"),
    (lambda r: r.tool_call_requested("crm", "lookup", "{oops", None, None, None), "params must be a JSON object"),
    (lambda r: r.tool_call_requested("", "lookup", {}, None, None, None), r"tool"),
    (lambda r: r.tool_call_completed("c1", "crm", "exploded", 3.0, None, None, None), r"status.*'exploded'"),
    (lambda r: r.tool_call_completed("c1", "crm", "ok", 3.0, "{bad", None, None), r"output must be JSON"),
    (lambda r: r.run_completed("done", None, None), r"status.*'done'"),
    (lambda r: r.started("v1", "p1", "m", "not a time"), r"occurred_at"),
])
def test_bad_input_is_a_validation_error_naming_the_field(build: object, message: str) -> None:
    run = events()
    with pytest.raises(ValidationError, match=message):
        build(run)  # type: ignore[operator]
    assert run.step == 0


@pytest.mark.parametrize("field", ["tenant_id", "workflow", "agent_id", "run_id"])
def test_a_bad_run_context_is_refused_when_the_run_is_opened(field: str) -> None:
    context: dict[str, str] = {"tenant_id": "acme", "workflow": "w", "agent_id": "a", "run_id": "r", field: ""}
    with pytest.raises(ValidationError, match=field):
        RunEvents(context["tenant_id"], context["workflow"], context["agent_id"], context["run_id"], None)


def test_at_sets_event_time_in_utc_to_the_millisecond() -> None:
    run = events()
    local = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    event = run.llm_call("m", "openai", 1, 1, 1.0, 0, None, local)
    assert event.occurred_at == datetime(2026, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert run.llm_call("m", "openai", 1, 1, 1.0, 0, None, None).occurred_at >= before


def test_built_events_are_exactly_what_the_contract_accepts() -> None:
    """Whatever the SDK builds must survive a validation round trip unchanged."""
    run = events(user_id="u1")
    built: list[AgentEvent] = [
        run.started("v1", "p1", "m", None),
        run.llm_call("m", "openai", 1, 2, 3.0, 1, None, None),
        run.tool_call_requested("crm", "lookup", {"customer_id": "c1"}, None, None, None),
        run.tool_call_completed("c1", "crm", "error", 3.0, None, "E_TIMEOUT", None),
        run.run_completed("aborted", None, None),
    ]
    for event in built:
        assert AgentEvent.model_validate(event.to_json_view()) == event
    assert isinstance(built[1].body, LlmCall) and built[1].body.cached_tokens == 1
    assert run.completed


def _deep(levels: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def _circular() -> dict[str, object]:
    loop: dict[str, object] = {}
    loop["self"] = loop
    return loop


@pytest.mark.parametrize(("params", "message"), [
    ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", r"nests deeper than the limit of 32 levels \(WARDEN_LIMIT_JSON_DEPTH\)"),
    (_deep(10_000), r"params: it cannot be written as JSON \(RecursionError"),
    (_deep(40), r"nests deeper than the limit of 32 levels"),
    (_circular(), r"params: it cannot be written as JSON \(ValueError: Circular reference"),
    ({"note": "x" * 70_000}, r"over the limit of 65536 bytes \(WARDEN_LIMIT_PARAMS_BYTES\)"),
    ({"amount_usd": 5, "note": "a\x00b"}, r"NUL character"),
    ('{"amount_usd": 5, "amount_usd": 500}', r"has the key 'amount_usd' twice"),
])
def test_hostile_params_are_a_validation_error_naming_the_limit(params: object, message: str) -> None:
    """Issue 13: the SDK raised RecursionError (not Warden's ValidationError) for deep params."""
    run = events()
    with pytest.raises(ValidationError, match=message):
        run.tool_call_requested("payments", "refund", params, None, None, None)  # type: ignore[arg-type]
    assert run.step == 0


def test_a_run_completes_once() -> None:
    """A second run_completed (an agent calling completed twice) counted the run twice in the cost summary."""
    run = events()
    run.run_completed("succeeded", None, None)
    with pytest.raises(ValidationError, match="already completed: a run completes once"):
        run.run_completed("failed", None, None)
    assert run.step == 1  # the refused completion took no step
