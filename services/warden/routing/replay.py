"""Routing decisions decided again (`warden replay` writes them to routes.jsonl), next to what was recorded.

A route decision is decided again on the features it recorded (which include the tenant_tier the live
file gave it); an escalation steps from the run's route as replay has decided it so far. With the file
the live SDK had, every line says same = true (tests/replay/test_routes.py checks it against decisions made
by the SDK on the real broker); with another file, the lines where it would route differently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from warden.core.events import AgentEvent, DecisionKind, LlmCall, RunCompleted, iso_millis
from warden.routing.matcher import decide, escalate
from warden.routing.policy import RoutingPolicy


@dataclass
class RouteReplay:
    policy: RoutingPolicy
    current: dict[str, str] = field(default_factory=dict)  # run_id -> its route so far

    def feed(self, event: AgentEvent) -> dict[str, Any] | None:
        body = event.body
        if isinstance(body, RunCompleted):
            self.current.pop(event.run_id, None)  # the run is over: its route is not needed again
            return None
        if not isinstance(body, LlmCall) or body.route_decision is None:
            return None
        recorded = body.route_decision
        if recorded.kind == DecisionKind.ROUTE:
            choice = decide(self.policy, json.loads(recorded.features))
        else:
            choice = escalate(self.policy, self.current.get(event.run_id))
        self.current[event.run_id] = choice.route
        same = (choice.route, choice.model, choice.rule, choice.exhausted) == (
            body.route, body.model, recorded.rule, recorded.exhausted)
        return {"event_id": event.event_id, "run_id": event.run_id, "tenant_id": event.tenant_id,
                "workflow": event.workflow, "step": event.step, "occurred_at": iso_millis(event.occurred_at),
                "kind": recorded.kind.value, "route": choice.route, "model": choice.model, "rule": choice.rule,
                "exhausted": choice.exhausted, "policy_version": choice.policy_version,
                "recorded": {"route": body.route, "model": body.model, "rule": recorded.rule,
                             "exhausted": recorded.exhausted, "policy_version": recorded.policy_version},
                "same": same}
