"""The agent events as the rollout-controller reads them: the fields it acts on, validated exactly as
AgentEvent validates them (warden.core.views; docs/decisions/0020-acted-on-views.md).

Validating a whole AgentEvent cost 13 µs of the 21 µs a read event cost to decode (benchmarks/decode.py);
this view, 7 µs. It carries what `controller.Step.event` and the price table use, and the event id the
runtime dedupes by. The rule, live and in `warden replay` alike: an event whose acted-on fields are valid
is stepped even when another of its fields is not (a NUL in agent_id, a state_change that is not JSON);
the ledger-sink still dead-letters it and every reader of the full model still refuses it. An event with
one bad acted-on field is refused here as there, with the same reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, SkipValidation, ValidationInfo, field_validator, model_validator

from warden.core.events import (
    _UUID,
    AVRO_BODY_NAMES,
    LONG_MAX,
    AgentEvent,
    EventType,
    LlmCall,
    RunCompleted,
    RunStarted,
    RunStatus,
    _check_strings,
    body_of,
)
from warden.core.views import ACCEPTS, view_of


class ViewBody(BaseModel):
    """A body view: the full body's config and text rule, with the fields left out ignored, not refused."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    @model_validator(mode="after")
    def _text(self) -> ViewBody:
        _check_strings(self)
        return self


class RunStartedBase(ViewBody):
    workflow_version: str  # re-declared by view_of from RunStarted (here for the property's type)
    release: str | None = None

    @property
    def release_name(self) -> str:
        """RunStarted.release_name."""
        return self.release or self.workflow_version


RunStartedView = view_of(RunStarted, "RunStartedView", ("workflow_version", "release"), RunStartedBase)
LlmCallView = view_of(LlmCall, "LlmCallView", ("model", "input_tokens", "output_tokens", "cached_tokens", "cost_usd"),
                      ViewBody)
RunCompletedView = view_of(RunCompleted, "RunCompletedView", ("status",), ViewBody)

VIEW_BODIES: dict[EventType, type[BaseModel]] = {
    EventType.RUN_STARTED: RunStartedView,
    EventType.LLM_CALL: LlmCallView,
    EventType.RUN_COMPLETED: RunCompletedView,
}
# The AgentEvent fields the controller acts on (event_id: what the runtime and replay dedupe it by).
EVENT_FIELDS = ("event_id", "event_type", "occurred_at", "tenant_id", "workflow", "run_id")


class EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_validator(mode="after")
    def _text(self) -> EventBase:
        _check_strings(self)
        return self

    @field_validator("body", mode="before", check_fields=False)  # body: added by view_of
    @classmethod
    def _body_for_type(cls, body: Any, info: ValidationInfo) -> Any:
        """AgentEvent's body rule (events.body_of) on the body field alone: the event type is validated by
        then (a bad one is refused on its own field), and the record is not copied."""
        event_type = info.data.get("event_type")
        if not isinstance(event_type, EventType):
            raise ValueError("no body without a valid event_type")
        return body_of(event_type, body, VIEW_BODIES)


# The body is validated by _body_for_type, not again as the union (as AgentEvent's, see its body field).
AgentEventView = view_of(AgentEvent, "AgentEventView", EVENT_FIELDS, EventBase,
                         body=(Annotated[RunStartedView | LlmCallView | RunCompletedView, SkipValidation()], ...))


def _accept_path() -> Any:
    """The compiled accept path of AgentEventView (warden/rollout/_view_fast.pyx), None where it is not built."""
    try:
        from warden.rollout import _view_fast  # built by `make setup` (Cython); the stub is _view_fast.pyi
    except ImportError:
        return None
    branches = {name: kind for name, kind in AVRO_BODY_NAMES.items() if kind in VIEW_BODIES}
    return _view_fast.Accept(AgentEventView, LlmCallView, RunStartedView, RunCompletedView,
                             {t.value: t for t in EventType}, {s.value: s for s in RunStatus}, branches,
                             _UUID.fullmatch, UTC, LONG_MAX, EventType.LLM_CALL, EventType.RUN_STARTED, datetime)


ACCEPT = _accept_path()
if ACCEPT is not None:
    ACCEPTS[AgentEventView] = ACCEPT
