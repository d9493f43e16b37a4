"""Small builders of typed events and decisions for the alert rules' unit tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from warden.core.events import AgentEvent, ToolCallRequested
from warden.core.records import Decision, PolicyDecision

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def event(event_type: str, body: dict[str, Any], t: float, *, tenant: str = "acme", workflow: str = "refund_ticket",
          run: str = "run-1", step: int = 1) -> AgentEvent:
    return AgentEvent.model_validate({
        "event_id": str(uuid.uuid4()), "event_type": event_type, "occurred_at": at(t), "tenant_id": tenant,
        "workflow": workflow, "run_id": run, "agent_id": "agent-1", "step": step, "body": body})


def tool_error(t: float, tool: str = "payments", **kw: Any) -> AgentEvent:
    return event("tool_call_completed", {"call_id": str(uuid.uuid4()), "tool": tool, "status": "error",
                                         "error_code": "TIMEOUT", "latency_ms": 10.0}, t, **kw)


def requested(t: float, tool: str, action: str, call_id: str, **kw: Any) -> AgentEvent:
    return event("tool_call_requested", {"call_id": call_id, "tool": tool, "action": action,
                                         "params": json.dumps({})}, t, **kw)


def llm(t: float, cost: float | None, **kw: Any) -> AgentEvent:
    return event("llm_call", {"model": "gpt-4o-mini", "provider": "openai", "input_tokens": 10, "output_tokens": 5,
                              "latency_ms": 1.0, "cost_usd": cost}, t, **kw)


def completed(t: float, status: str, **kw: Any) -> AgentEvent:
    return event("run_completed", {"status": status}, t, **kw)


def decision(request: AgentEvent, outcome: Decision, policy_ids: list[str], stop_ship: bool = False) -> PolicyDecision:
    body = request.body
    assert isinstance(body, ToolCallRequested)
    call_id = body.call_id
    return PolicyDecision(decision_id=str(uuid.uuid4()), event_id=request.event_id, call_id=call_id,
                          run_id=request.run_id, tenant_id=request.tenant_id, decided_at=request.occurred_at,
                          decision=outcome, policy_ids=policy_ids, reason=f"test {outcome.value}",
                          policy_version="v1", stop_ship=stop_ship)
