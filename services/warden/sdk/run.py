"""Run context: tenant, workflow, run and agent carried for the caller, steps numbered from 1."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from warden.core.errors import ValidationError
from warden.core.events import (
    AgentEvent,
    EventType,
    LlmCall,
    RunCompleted,
    RunStarted,
    ToolCallCompleted,
    ToolCallRequested,
    new_event_id,
)
from warden.core.wire import validate
from warden.sdk import routing  # a module attribute: an import statement per call cost a third of run.route

if TYPE_CHECKING:
    from warden.routing.features import Value
    from warden.routing.policy import RouteChoice
    from warden.sdk.cache import RunCache
    from warden.sdk.gate import DecisionWatcher, GateVerdict


class RunClient(Protocol):
    """What a Run needs from its client: a WardenClient, or an eval's in-process recorder (warden.evals)."""

    def emit(self, event: AgentEvent) -> None: ...

    def flush(self, timeout_s: float | None = None) -> None: ...

    def gate(self) -> DecisionWatcher: ...

    def authorize(self, call_id: str, timeout_s: float = 10.0, approval_timeout_s: float = 900.0,
                  risk_timeout_s: float = 2.0, risk_required: bool = False) -> GateVerdict: ...


def _json(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), default=str)
    except (RecursionError, ValueError, TypeError) as exc:  # too deep, circular, a key json cannot write
        raise ValidationError(f"invalid {field}: it cannot be written as JSON ({type(exc).__name__}: "
                              f"{str(exc)[:120]})") from exc


def _check_context(**fields: str | None) -> None:
    """A bad run context would break every event of the run: refuse it when the run is opened."""
    for name, value in fields.items():
        if name == "user_id" and value is None:
            continue
        if not isinstance(value, str) or not value:
            raise ValidationError(f"invalid run context: {name} must be a non-empty string, got {value!r}")


class RunEvents:
    """Builds the validated events of one run; shared by the sync and asyncio runs."""

    def __init__(self, tenant_id: str, workflow: str, agent_id: str, run_id: str, user_id: str | None) -> None:
        _check_context(tenant_id=tenant_id, workflow=workflow, agent_id=agent_id, run_id=run_id, user_id=user_id)
        self.tenant_id, self.workflow, self.agent_id = tenant_id, workflow, agent_id
        self.run_id, self.user_id = run_id, user_id
        self.step = 0
        self.completed = False
        # Held by the sync Run across build and emit, so threads sharing a run queue in step order.
        self.lock = threading.RLock()

    def build(self, event_type: EventType, body: Any, at: datetime | None) -> AgentEvent:
        """Validate first, number second: a refused event takes no step number."""
        event = validate(AgentEvent, {
            "event_id": new_event_id(), "event_type": event_type, "occurred_at": at or datetime.now(UTC),
            "tenant_id": self.tenant_id, "workflow": self.workflow, "run_id": self.run_id,
            "agent_id": self.agent_id, "user_id": self.user_id, "step": self.step + 1, "body": body,
        })
        self.step += 1
        if event_type is EventType.RUN_COMPLETED:
            self.completed = True
        return event

    # The body is validated on its own first: its error then names the field and the value found.

    def started(self, workflow_version: str, prompt_version: str, model: str, at: datetime | None,
                release: str | None = None) -> AgentEvent:
        body = validate(RunStarted, {"workflow_version": workflow_version, "prompt_version": prompt_version,
                                     "model": model, "release": release})
        return self.build(EventType.RUN_STARTED, body, at)

    def llm_call(self, model: str, provider: str, input_tokens: int, output_tokens: int, latency_ms: float,
                 cached_tokens: int, cost_usd: float | None, at: datetime | None,
                 route: str | None = None) -> AgentEvent:
        body = validate(LlmCall, {
            "model": model, "provider": provider, "input_tokens": input_tokens, "output_tokens": output_tokens,
            "cached_tokens": cached_tokens, "latency_ms": latency_ms, "cost_usd": cost_usd, "route": route})
        return self.build(EventType.LLM_CALL, body, at)

    def tool_call_requested(self, tool: str, action: str, params: dict[str, Any] | str, resource: str | None,
                            call_id: str | None, at: datetime | None) -> AgentEvent:
        body = validate(ToolCallRequested, {
            "call_id": str(uuid.uuid4()) if call_id is None else call_id, "tool": tool, "action": action,
            "resource": resource, "params": _json(params, "params")})
        return self.build(EventType.TOOL_CALL_REQUESTED, body, at)

    def tool_call_completed(self, call_id: str, tool: str, status: str, latency_ms: float, output: Any,
                            error_code: str | None, at: datetime | None) -> AgentEvent:
        body = validate(ToolCallCompleted, {
            "call_id": call_id, "tool": tool, "status": status, "error_code": error_code,
            "latency_ms": latency_ms, "output": _json(output, "output")})
        return self.build(EventType.TOOL_CALL_COMPLETED, body, at)

    def run_completed(self, status: str, state_change: Any, at: datetime | None) -> AgentEvent:
        if self.completed:  # a second completion would count the run twice in every per-task figure
            raise ValidationError(f"run {self.run_id} is already completed: a run completes once, got a second "
                                  f"completion with status {status!r}")
        body = validate(RunCompleted, {"status": status, "state_change": _json(state_change, "state_change")})
        return self.build(EventType.RUN_COMPLETED, body, at)


class Run:
    """One agent run; ``with client.run(...) as run:`` records a failure if the block raises."""

    def __init__(self, client: RunClient, tenant_id: str, workflow: str, agent_id: str, run_id: str,
                 user_id: str | None) -> None:
        self.client = client
        self.events = RunEvents(tenant_id, workflow, agent_id, run_id, user_id)
        self._cache: RunCache | None = None
        self.current_route: str | None = None  # the route of the last run.route / run.escalate

    @property
    def cache(self) -> RunCache:
        """The SDK cache for this run's repeated answers and embeddings (warden.sdk.cache)."""
        if self._cache is None:
            from warden.sdk.cache import RunCache, cache_of

            self._cache = RunCache(self, cache_of(self.client))
        return self._cache

    def _observed(self, event: AgentEvent) -> AgentEvent:
        """A run that used the cache shows it each event: what its answers led to decides what is kept."""
        if self._cache is not None:
            self._cache.cache.observe(event)
        return event

    @property
    def run_id(self) -> str:
        return self.events.run_id

    @property
    def step(self) -> int:
        """The step number of the last event built (0 before the first)."""
        return self.events.step

    @property
    def is_completed(self) -> bool:
        return self.events.completed

    def started(self, workflow_version: str, prompt_version: str, model: str, *,
                at: datetime | None = None, release: str | None = None) -> AgentEvent:
        """`release`: the release this run executes (what `client.release_for` chose); default the version."""
        with self.events.lock:
            event = self.events.started(workflow_version, prompt_version, model, at, release)
            self.client.emit(event)
        return event

    def llm_call(self, model: str, provider: str, input_tokens: int, output_tokens: int, latency_ms: float, *,
                 cached_tokens: int = 0, cost_usd: float | None = None, at: datetime | None = None,
                 route: str | None = None) -> AgentEvent:
        """`route`: which model route served the call (e.g. cheap, escalated); spend is reported per route."""
        with self.events.lock:
            event = self.events.llm_call(model, provider, input_tokens, output_tokens, latency_ms,
                                         cached_tokens, cost_usd, at, route)
            self.client.emit(event)
        return self._observed(event)

    def route(self, **features: Value) -> RouteChoice:
        """Which route (and model) this task takes, from the local routing file (policies/routing.toml).

        Features: tool, intent, amount_usd, risk_score, input_tokens, tenant_tier and any label; the run's
        workflow and tenant are added. No round trip; the decision is recorded on the run's events.
        """
        choice, build = routing.decision(self, features)
        later = getattr(self.client, "emit_later", None)
        if later is not None:
            later(build)  # the WardenClient builds and sends it before its next event, in step order
        else:
            self.client.emit(build())  # a client that cannot defer (an eval's recorder)
        return choice

    def escalate(self, reason: str, *, confidence: float | None = None) -> RouteChoice:
        """Move to the next route of the routing file's escalation order, recorded with the reason and
        the agent's confidence (0..1); at the last route the choice says ``exhausted`` (hand it to a human)."""
        return routing.escalate_run(self, reason, confidence)

    def tool_call_requested(self, tool: str, action: str, params: dict[str, Any] | str, *,
                            resource: str | None = None, call_id: str | None = None,
                            at: datetime | None = None) -> str:
        with self.events.lock:
            event = self.events.tool_call_requested(tool, action, params, resource, call_id, at)
            self.client.emit(event)
        return self._observed(event).body.call_id  # type: ignore[union-attr]

    def authorize(self, tool: str, action: str, params: dict[str, Any] | str, *, resource: str | None = None,
                  timeout_s: float = 10.0, approval_timeout_s: float = 900.0, risk_timeout_s: float = 2.0,
                  risk_required: bool = False) -> tuple[str, GateVerdict]:
        """Request a tool call and wait for Warden's verdict (fails closed on timeout).

        Returns (call_id, verdict); call the tool only if ``verdict.allowed``. An allowed call in
        its workflow's riskiest share waits for a human too (see ``WardenClient.authorize``).
        """
        self.client.gate()  # follow decisions before the request exists, so none is missed
        call_id = self.tool_call_requested(tool, action, params, resource=resource)
        self.client.flush()
        return call_id, self.client.authorize(call_id, timeout_s, approval_timeout_s, risk_timeout_s, risk_required)

    def tool_call_completed(self, call_id: str, tool: str, status: str, latency_ms: float, *,
                            output: dict[str, Any] | list[Any] | str | None = None, error_code: str | None = None,
                            at: datetime | None = None) -> AgentEvent:
        with self.events.lock:
            event = self.events.tool_call_completed(call_id, tool, status, latency_ms, output, error_code, at)
            self.client.emit(event)
        return event

    def completed(self, status: str, *, state_change: dict[str, Any] | str | None = None,
                  at: datetime | None = None) -> AgentEvent:
        with self.events.lock:
            event = self.events.run_completed(status, state_change, at)
            self.client.emit(event)
        return self._observed(event)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None and not self.events.completed:
            self.completed("failed", state_change={"error": type(exc).__name__})
