"""Run context: tenant, workflow, run and agent carried for the caller, steps numbered from 1."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from warden.core.events import AgentEvent, new_event_id
from warden.core.wire import validate

if TYPE_CHECKING:
    from warden.sdk.client import WardenClient
    from warden.sdk.gate import GateVerdict


def _json(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


class RunEvents:
    """Builds the validated events of one run; shared by the sync and asyncio runs."""

    def __init__(self, tenant_id: str, workflow: str, agent_id: str, run_id: str, user_id: str | None) -> None:
        self.tenant_id, self.workflow, self.agent_id = tenant_id, workflow, agent_id
        self.run_id, self.user_id = run_id, user_id
        self.step = 0
        self.completed = False

    def build(self, event_type: str, body: dict[str, Any], at: datetime | None) -> AgentEvent:
        event = validate(AgentEvent, {
            "event_id": new_event_id(), "event_type": event_type, "occurred_at": at or datetime.now(UTC),
            "tenant_id": self.tenant_id, "workflow": self.workflow, "run_id": self.run_id,
            "agent_id": self.agent_id, "user_id": self.user_id, "step": self.step + 1, "body": body,
        })
        self.step += 1  # only a valid event takes a step number
        if event_type == "run_completed":
            self.completed = True
        return event

    def started(self, workflow_version: str, prompt_version: str, model: str, at: datetime | None) -> AgentEvent:
        return self.build("run_started", {"workflow_version": workflow_version, "prompt_version": prompt_version,
                                          "model": model}, at)

    def llm_call(self, model: str, provider: str, input_tokens: int, output_tokens: int, latency_ms: float,
                 cached_tokens: int, cost_usd: float | None, at: datetime | None) -> AgentEvent:
        return self.build("llm_call", {
            "model": model, "provider": provider, "input_tokens": input_tokens, "output_tokens": output_tokens,
            "cached_tokens": cached_tokens, "latency_ms": latency_ms, "cost_usd": cost_usd}, at)

    def tool_call_requested(self, tool: str, action: str, params: dict[str, Any] | str, resource: str | None,
                            call_id: str | None, at: datetime | None) -> AgentEvent:
        return self.build("tool_call_requested", {
            "call_id": call_id or str(uuid.uuid4()), "tool": tool, "action": action, "resource": resource,
            "params": _json(params)}, at)

    def tool_call_completed(self, call_id: str, tool: str, status: str, latency_ms: float, output: Any,
                            error_code: str | None, at: datetime | None) -> AgentEvent:
        return self.build("tool_call_completed", {
            "call_id": call_id, "tool": tool, "status": status, "error_code": error_code,
            "latency_ms": latency_ms, "output": _json(output)}, at)

    def run_completed(self, status: str, state_change: Any, at: datetime | None) -> AgentEvent:
        return self.build("run_completed", {"status": status, "state_change": _json(state_change)}, at)


class Run:
    """One agent run; ``with client.run(...) as run:`` records a failure if the block raises."""

    def __init__(self, client: WardenClient, tenant_id: str, workflow: str, agent_id: str, run_id: str,
                 user_id: str | None) -> None:
        self.client = client
        self.events = RunEvents(tenant_id, workflow, agent_id, run_id, user_id)

    @property
    def run_id(self) -> str:
        return self.events.run_id

    @property
    def step(self) -> int:
        return self.events.step

    def _emit(self, event: AgentEvent) -> AgentEvent:
        self.client.emit(event)
        return event

    def started(self, workflow_version: str, prompt_version: str, model: str, *,
                at: datetime | None = None) -> AgentEvent:
        return self._emit(self.events.started(workflow_version, prompt_version, model, at))

    def llm_call(self, model: str, provider: str, input_tokens: int, output_tokens: int, latency_ms: float, *,
                 cached_tokens: int = 0, cost_usd: float | None = None, at: datetime | None = None) -> AgentEvent:
        return self._emit(self.events.llm_call(model, provider, input_tokens, output_tokens, latency_ms,
                                               cached_tokens, cost_usd, at))

    def tool_call_requested(self, tool: str, action: str, params: dict[str, Any] | str, *,
                            resource: str | None = None, call_id: str | None = None,
                            at: datetime | None = None) -> str:
        event = self._emit(self.events.tool_call_requested(tool, action, params, resource, call_id, at))
        return event.body.call_id  # type: ignore[union-attr]

    def authorize(self, tool: str, action: str, params: dict[str, Any] | str, *, resource: str | None = None,
                  timeout_s: float = 10.0) -> tuple[str, GateVerdict]:
        """Request a tool call and wait for Warden's verdict (fails closed on timeout).

        Returns (call_id, verdict); call the tool only if ``verdict.allowed``.
        """
        self.client.gate()  # follow decisions before the request exists, so none is missed
        call_id = self.tool_call_requested(tool, action, params, resource=resource)
        self.client.flush()
        return call_id, self.client.authorize(call_id, timeout_s)

    def tool_call_completed(self, call_id: str, tool: str, status: str, latency_ms: float, *,
                            output: Any = None, error_code: str | None = None,
                            at: datetime | None = None) -> AgentEvent:
        return self._emit(self.events.tool_call_completed(call_id, tool, status, latency_ms, output,
                                                          error_code, at))

    def completed(self, status: str, *, state_change: Any = None, at: datetime | None = None) -> AgentEvent:
        return self._emit(self.events.run_completed(status, state_change, at))

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None and not self.events.completed:
            self.completed("failed", state_change={"error": type(exc).__name__})
