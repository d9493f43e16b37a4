"""Typed AgentEvent, the contract agent platforms publish (schemas/agent_event.avsc).

The model enforces what Avro cannot say: step >= 1, non-negative tokens and latencies,
a body that matches event_type, params that are a JSON object, and the input limits of
warden.core.limits (JSON size and depth, no duplicate keys, no NUL or lone surrogate in any
text). A test checks these fields against the Avro schema so the two cannot drift apart.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, SkipValidation, field_validator, model_validator

from warden.core import jsontext

LONG_MAX = 2**63 - 1  # Avro long and int: a larger number passes pydantic's int and fails only at encode
INT_MAX = 2**31 - 1
NonNegInt = Annotated[int, Field(ge=0, le=LONG_MAX)]
_UUID = re.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # ASCII only, unlike \d
NonNegFloat = Annotated[float, Field(ge=0)]


class EventType(StrEnum):
    RUN_STARTED = "run_started"
    LLM_CALL = "llm_call"
    TOOL_CALL_REQUESTED = "tool_call_requested"
    TOOL_CALL_COMPLETED = "tool_call_completed"
    RUN_COMPLETED = "run_completed"


def utc_millis(value: datetime) -> datetime:
    """Event time is stored as timestamp-millis: keep exactly what a round trip keeps."""
    if value.tzinfo is UTC and not value.microsecond % 1000:  # as Avro decodes it: already what this returns
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _json_object(value: str, field: str) -> str:
    try:
        parsed = jsontext.loads(value, field, "params_bytes")
    except jsontext.NotJson as exc:
        raise ValueError(f"{field} must be a JSON object, got unparsable text {value[:60]!r}") from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"{field} must be a JSON object, got JSON {type(parsed).__name__}")
    return value


def _json_text(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        jsontext.loads(value, field, "output_bytes")
    except jsontext.NotJson as exc:
        raise ValueError(f"{field} must be JSON text, got {value[:60]!r}") from exc
    return value


def _check_strings(model: BaseModel) -> None:
    """No NUL or lone surrogate in any text field (the JSON fields' decoded strings are checked on parse)."""
    for name, value in model.__dict__.items():
        # text_problem's own first test inline (ASCII without NUL): one call less per string of every record
        if isinstance(value, str) and ("\x00" in value or not value.isascii()) \
                and jsontext.text_problem(value) is not None:
            jsontext.check_text(value, name)


class _Body(BaseModel):
    # No NaN or infinity in latencies and costs: an infinite cost would make every later policy
    # comparison of the run's spend an evaluation error.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _text(self) -> _Body:
        _check_strings(self)
        return self


class RunStarted(_Body):
    workflow_version: str
    prompt_version: str
    model: str
    release: str | None = None

    @property
    def release_name(self) -> str:
        """The release a rollout judges: the explicit one, else the workflow version (DESIGN.md, round 2)."""
        return self.release or self.workflow_version


class DecisionKind(StrEnum):
    ROUTE = "route"  # run.route: the routing file chose the route
    ESCALATE = "escalate"  # run.escalate: the agent moved to the next route


class RouteDecision(_Body):
    """A routing decision rides on an llm_call with no tokens (ADR 0015): old readers see a $0 call."""

    kind: DecisionKind
    rule: str
    policy_version: str
    features: str = "{}"
    from_route: str | None = None
    reason: str | None = None
    confidence: float | None = Field(None, ge=0, le=1)
    exhausted: bool = False

    @field_validator("features")
    @classmethod
    def _features_object(cls, value: str) -> str:
        return _json_object(value, "features")


class LlmCall(_Body):
    model: str
    provider: str
    input_tokens: NonNegInt
    output_tokens: NonNegInt
    cached_tokens: NonNegInt = 0
    latency_ms: NonNegFloat
    cost_usd: NonNegFloat | None = None
    route: str | None = None
    # The SDK cache (warden.sdk.cache): the entry looked up or offered, a hit, what the redactor found
    cache_key: str | None = None
    cache_hit: bool = False
    cache_pii: str | None = None
    saved_input_tokens: NonNegInt = 0
    saved_output_tokens: NonNegInt = 0
    saved_usd: NonNegFloat | None = None
    route_decision: RouteDecision | None = None  # set: a routing decision, not a model call (ADR 0015)

    @model_validator(mode="after")
    def _cache_facts(self) -> LlmCall:
        """A hit names its entry; only a hit saves anything."""
        if self.cache_hit and not self.cache_key:
            raise ValueError("cache_hit needs the cache_key of the entry it was served from")
        if not self.cache_hit and (self.saved_input_tokens or self.saved_output_tokens or self.saved_usd):
            raise ValueError(f"saved_* are for cache hits only, got saved_input_tokens={self.saved_input_tokens}, "
                             f"saved_output_tokens={self.saved_output_tokens}, saved_usd={self.saved_usd}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _union_branch(cls, data: Any) -> Any:
        """fastavro returns a record inside a union as (name, fields): keep the fields."""
        if isinstance(data, dict) and isinstance(data.get("route_decision"), tuple):
            return {**data, "route_decision": data["route_decision"][1]}
        return data

    @property
    def is_decision(self) -> bool:
        """A routing decision, not a call to a model: counts no call, tokens or spend."""
        return self.route_decision is not None


class ToolCallRequested(_Body):
    call_id: str = Field(min_length=1)
    tool: str = Field(min_length=1)
    action: str = Field(min_length=1)
    resource: str | None = None
    params: str

    @field_validator("params")
    @classmethod
    def _params_object(cls, value: str) -> str:
        return _json_object(value, "params")

    def params_dict(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.params)
        return parsed

    def params_exact(self) -> dict[str, Any]:
        """The params with every fractional number as the Decimal written, for policy (no float rounding)."""
        parsed: dict[str, Any] = jsontext.exact(self.params)
        return parsed


class ToolStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    DENIED = "denied"


class ToolCallCompleted(_Body):
    call_id: str = Field(min_length=1)
    tool: str = Field(min_length=1)
    status: ToolStatus
    error_code: str | None = None
    latency_ms: NonNegFloat
    output: str | None = None

    @field_validator("output")
    @classmethod
    def _output_json(cls, value: str | None) -> str | None:
        return _json_text(value, "output")


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ESCALATED = "escalated"
    ABORTED = "aborted"


class RunCompleted(_Body):
    status: RunStatus
    state_change: str | None = None

    @field_validator("state_change")
    @classmethod
    def _state_change_json(cls, value: str | None) -> str | None:
        return _json_text(value, "state_change")


Body = RunStarted | LlmCall | ToolCallRequested | ToolCallCompleted | RunCompleted

BODY_TYPES: dict[EventType, type[_Body]] = {
    EventType.RUN_STARTED: RunStarted,
    EventType.LLM_CALL: LlmCall,
    EventType.TOOL_CALL_REQUESTED: ToolCallRequested,
    EventType.TOOL_CALL_COMPLETED: ToolCallCompleted,
    EventType.RUN_COMPLETED: RunCompleted,
}
AVRO_BODY_NAMES: dict[str, EventType] = {f"warden.{cls.__name__}": et for et, cls in BODY_TYPES.items()}


class AgentEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    event_type: EventType
    occurred_at: datetime
    tenant_id: str = Field(min_length=1)
    workflow: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    agent_id: str = Field(min_length=1)
    user_id: str | None = None
    step: int = Field(ge=1, le=INT_MAX, description="1-based step number within the run")
    # Validated by _body_for_type (body_of: the record of event_type, or refused), not again as the union: a
    # model instance passed on re-runs its after-validators (the text rule), which doubled a body's cost.
    body: SkipValidation[Body]

    @field_validator("event_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        if _UUID.fullmatch(value):  # the canonical form (every Warden producer's): what uuid.UUID accepts
            return value
        try:
            uuid.UUID(value)
        except ValueError as exc:
            raise ValueError(f"event_id must be a UUID, got {value!r}") from exc
        return value

    @field_validator("occurred_at")
    @classmethod
    def _millis(cls, value: datetime) -> datetime:
        return utc_millis(value)

    @model_validator(mode="after")
    def _text(self) -> AgentEvent:
        _check_strings(self)
        return self

    @model_validator(mode="before")
    @classmethod
    def _body_for_type(cls, data: Any) -> Any:
        """Pick the body record from event_type; an Avro union branch must agree with it."""
        return body_for_type(data, BODY_TYPES)

    def to_avro(self) -> dict[str, Any]:
        record = self.model_dump(mode="python")
        record["event_type"] = self.event_type.value
        record["body"] = (f"warden.{type(self.body).__name__}", _enum_values(record["body"]))
        return record

    def to_json_view(self) -> dict[str, Any]:
        view = self.model_dump(mode="json")
        view["occurred_at"] = iso_millis(self.occurred_at)
        return view


def body_for_type(data: Any, types: Mapping[EventType, type[BaseModel]]) -> Any:
    """AgentEvent's body rule, shared with the views of it (warden.core.views): the body is validated as the
    model ``types`` gives for event_type, and an Avro union branch or a model given must agree with it."""
    if isinstance(data, Mapping) and not isinstance(data, dict):
        data = dict(data)  # any mapping is read as a dict would be (the body field is not validated again)
    if not isinstance(data, dict) or "event_type" not in data:
        return data
    try:
        event_type = EventType(data["event_type"])
    except ValueError:
        return data  # the enum field reports the bad value
    return {**data, "body": body_of(event_type, data.get("body"), types)}


def body_of(event_type: EventType, body: Any, types: Mapping[EventType, type[BaseModel]]) -> Any:
    """The body as the model ``types`` gives for ``event_type`` (``body_for_type``'s rule, for a validator
    of the body field alone, which a view uses)."""
    expected = types.get(event_type)
    if expected is None:
        raise ValueError(f"event_type {event_type.value!r} has no body here; this reads "
                         f"{', '.join(t.value for t in types)}")
    if isinstance(body, tuple):  # fastavro union with return_record_name=True
        branch, fields = body
        if AVRO_BODY_NAMES.get(branch) != event_type:
            raise ValueError(
                f"body is a {branch.removeprefix('warden.')} but event_type {event_type.value!r} "
                f"needs a {expected.__name__}"
            )
        body = fields
    if isinstance(body, Mapping) and not isinstance(body, (dict, BaseModel)):
        body = dict(body)
    if isinstance(body, dict):  # before the BaseModel test (an ABC check, slow for a dict): a dict is no model
        try:
            body = expected.__pydantic_validator__.validate_python(body)  # model_validate without its kwargs
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise ValueError(
                f"body does not fit a {expected.__name__} (event_type {event_type.value!r}): {problems}"
            ) from None
    elif isinstance(body, BaseModel) and not isinstance(body, expected):
        raise ValueError(
            f"body is a {type(body).__name__} but event_type {event_type.value!r} needs a {expected.__name__}"
        )
    elif body is None:
        raise ValueError(f"body is required: a {expected.__name__} record (event_type {event_type.value!r})")
    elif not isinstance(body, BaseModel):  # the field itself is not validated again (SkipValidation)
        raise ValueError(f"body must be a {expected.__name__} record (event_type {event_type.value!r}), "
                         f"got {type(body).__name__}")
    return body


def _enum_values(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in fields.items()}


def iso_millis(value: datetime) -> str:
    """The JSON view's timestamp form: ISO-8601 UTC with milliseconds and a Z."""
    return utc_millis(value).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_event_id() -> str:
    return str(uuid.uuid4())


EVENT_TYPE_LITERAL = Literal[
    "run_started", "llm_call", "tool_call_requested", "tool_call_completed", "run_completed"
]
