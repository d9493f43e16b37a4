"""The compiled accept path of the rollout-controller's view (warden/rollout/_view_fast.pyx, ADR 0029): built and
used, it returns exactly what pydantic returns for the records it takes and leaves every other one to pydantic,
and what it checks is pinned to the view's rules (a new field, constraint or validator fails here first)."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tests.core.test_codec_fields import WANTED, events
from warden.core.codec import AvroCodec
from warden.core.errors import ValidationError
from warden.core.events import LONG_MAX, EventType
from warden.core.registry import FileSchemaRegistry
from warden.core.views import ACCEPTS
from warden.core.wire import Wire, validate
from warden.rollout import event_view
from warden.rollout.event_view import AgentEventView, LlmCallView, RunCompletedView, RunStartedView

ACCEPT = event_view.ACCEPT
UUID = "0b3f3c2e-6a8e-4f5b-9c1d-2e7a4b6c8d90"


def test_the_accept_path_is_built_and_used_for_the_view() -> None:
    assert ACCEPT is not None and ACCEPTS[AgentEventView] is ACCEPT


def surface(model: type[BaseModel]) -> tuple[Any, ...]:
    decorators = model.__pydantic_decorators__
    return (dict(model.model_config),
            [(name, repr(info.annotation), repr(info.metadata), repr(info.default)) for name, info in
             model.model_fields.items()],
            sorted((key, tuple(d.info.fields), d.info.mode) for key, d in decorators.field_validators.items()),
            sorted((key, d.info.mode) for key, d in decorators.model_validators.items()))


def test_what_it_checks_is_what_the_view_validates() -> None:
    """The rules _view_fast.pyx holds, as the views have them. A change here means a change there."""
    assert [surface(m) for m in (AgentEventView, LlmCallView, RunStartedView, RunCompletedView)] == [
        ({"frozen": True, "extra": "ignore"},
         [("event_id", "<class 'str'>", "[]", "PydanticUndefined"),
          ("event_type", "<enum 'EventType'>", "[]", "PydanticUndefined"),
          ("occurred_at", "<class 'datetime.datetime'>", "[]", "PydanticUndefined"),
          ("tenant_id", "<class 'str'>", "[MinLen(min_length=1)]", "PydanticUndefined"),
          ("workflow", "<class 'str'>", "[MinLen(min_length=1)]", "PydanticUndefined"),
          ("run_id", "<class 'str'>", "[MinLen(min_length=1)]", "PydanticUndefined"),
          ("body", "warden.core.views.RunStartedView | warden.core.views.LlmCallView | "
                   "warden.core.views.RunCompletedView", "[SkipValidation()]", "PydanticUndefined")],
         [("_body_for_type", ("body",), "before"), ("_millis", ("occurred_at",), "after"),
          ("_uuid", ("event_id",), "after")],
         [("_text", "after")]),
        ({"frozen": True, "extra": "ignore", "allow_inf_nan": False},
         [("model", "<class 'str'>", "[]", "PydanticUndefined"),
          ("input_tokens", "<class 'int'>", f"[Ge(ge=0), Le(le={LONG_MAX})]", "PydanticUndefined"),
          ("output_tokens", "<class 'int'>", f"[Ge(ge=0), Le(le={LONG_MAX})]", "PydanticUndefined"),
          ("cached_tokens", "<class 'int'>", f"[Ge(ge=0), Le(le={LONG_MAX})]", "0"),
          ("cost_usd", "typing.Optional[typing.Annotated[float, FieldInfo(annotation=NoneType, required=True, "
                       "metadata=[Ge(ge=0)])]]", "[]", "None")],
         [], [("_text", "after")]),
        ({"frozen": True, "extra": "ignore", "allow_inf_nan": False},
         [("workflow_version", "<class 'str'>", "[]", "PydanticUndefined"),
          ("release", "str | None", "[]", "None")], [], [("_text", "after")]),
        ({"frozen": True, "extra": "ignore", "allow_inf_nan": False},
         [("status", "<enum 'RunStatus'>", "[]", "PydanticUndefined")], [], [("_text", "after")]),
    ]


def decoded(tmp_path: Path) -> list[dict[str, Any]]:
    wire = Wire(AvroCodec(FileSchemaRegistry(tmp_path / "registry.json")))
    return [wire.codec.decode_fields(wire.encode(e), "warden.AgentEvent", WANTED)[1] for e in events()
            if e.event_type in (EventType.RUN_STARTED, EventType.LLM_CALL, EventType.RUN_COMPLETED)]


def pydantic_of(record: Any) -> BaseModel | None:
    try:
        return validate(AgentEventView, record)
    except ValidationError:
        return None


def same(accepted: BaseModel | None, expected: BaseModel | None) -> bool:
    """None (left to pydantic), or pydantic's instance: equal values, fields set, types, and bodies alike."""
    if accepted is None:
        return True
    if expected is None or accepted != expected or type(accepted) is not type(expected):
        return False
    a, e = accepted.__dict__["body"], expected.__dict__["body"]
    return (type(a) is type(e) and a.__pydantic_fields_set__ == e.__pydantic_fields_set__
            and accepted.__pydantic_fields_set__ == expected.__pydantic_fields_set__
            and [type(v) for v in accepted.__dict__.values()] == [type(v) for v in expected.__dict__.values()]
            and [type(v) for v in a.__dict__.values()] == [type(v) for v in e.__dict__.values()])


EVENT_VALUES: dict[str, list[Any]] = {
    "event_id": [UUID, UUID.upper(), "{" + UUID + "}", UUID.replace("-", ""), "", "x" * 36, 42, None,
                 UUID[:-1] + "\x00"],
    "event_type": ["llm_call", "run_started", "run_completed", "tool_call_requested", "LLM_CALL", "", 3, None],
    "occurred_at": [datetime(2026, 12, 1, 9, 0, tzinfo=UTC), datetime(2026, 12, 1, 9, 0, 0, 1000, tzinfo=UTC),
                    datetime(2026, 12, 1, 9, 0, 0, 1, tzinfo=UTC), datetime(2026, 12, 1, 9, 0),
                    datetime(2026, 12, 1, 9, 0, tzinfo=timezone(timedelta(hours=2))), "2026-12-01T09:00:00Z",
                    1796116800000, None],
    "tenant_id": ["acme", "", "é", "a\x00b", "\ud800", " acme", 7, None],
    "workflow": ["refund_ticket", "", "wf\x00", "wörk", None],
    "run_id": ["r1", "", "r\x00", "r\u2028", b"r1", None],
}
BODY_VALUES: dict[str, list[Any]] = {
    "model": ["gpt-4o", "", "gpt\x00", "gpté", 1, None],
    "input_tokens": [0, 10, LONG_MAX, LONG_MAX + 1, -1, True, 1.0, "1", None],
    "output_tokens": [0, 5, -5, False],
    "cached_tokens": [0, 3, -1, None],
    "cost_usd": [None, 0.0, -0.0, 0.25, 1e308, math.inf, -math.inf, math.nan, -0.01, 1, "0.1", True],
    "workflow_version": ["v3", "", "v\x00", "vé", None, 3],
    "release": [None, "v4", "", "v\x00", "\udfff", 4],
    "status": ["succeeded", "failed", "SUCCEEDED", "", None, 1],
}


def variants(record: dict[str, Any]) -> list[Any]:
    """The record with each field, one at a time, set to each value above, dropped, or the body's branch
    swapped; an extra key; not a dict at all."""
    out: list[Any] = [record, {**record, "extra": 1}, list(record.items()), None]
    for key, values in EVENT_VALUES.items():
        out += [{**record, key: v} for v in values]
        out.append({k: v for k, v in record.items() if k != key})
    branch, body = record["body"]
    for key in body:
        out += [{**record, "body": (branch, {**body, key: v})} for v in BODY_VALUES.get(key, [None])]
        out.append({**record, "body": (branch, {k: v for k, v in body.items() if k != key})})
    out.append({**record, "body": (branch, {**body, "extra": 1})})
    out += [{**record, "body": (other, body)} for other in ("warden.LlmCall", "warden.RunStarted",
                                                              "warden.RunCompleted", "warden.ToolCallRequested")]
    out += [{**record, "body": body}, {**record, "body": (branch,)}, {**record, "body": (branch, body, 1)}]
    return out


def test_it_returns_what_pydantic_returns_or_leaves_the_record_to_it(tmp_path: Path) -> None:
    assert ACCEPT is not None
    records = decoded(tmp_path)
    taken = 0
    for n, record in enumerate(itertools.chain.from_iterable(variants(r) for r in records)):
        accepted, expected = ACCEPT(record), pydantic_of(record)
        assert same(accepted, expected), (n, record, accepted, expected)
        taken += accepted is not None
    assert all(ACCEPT(r) is not None for r in records)  # every good decoded record is taken, not left
    assert taken > len(records)  # and the variants pydantic keeps as they are
