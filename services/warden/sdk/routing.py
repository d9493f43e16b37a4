"""run.route / run.escalate: a routing decision from the local routing file, recorded on the run's events.

The decision is made in memory (no round trip) and its event is built later, off the agent's path: the
step number and time are taken at once, under the run's lock, and the client builds, encodes and sends
the event before the next event it sends (or at flush/close), so it stays in step order. A client that
cannot defer (an eval's recorder) gets the event at once.
"""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from warden.core.errors import ValidationError
from warden.core.events import AgentEvent, DecisionKind, EventType, LlmCall, RouteDecision, new_event_id
from warden.core.wire import validate
from warden.routing.features import Features, Value, check_features
from warden.routing.matcher import decide, escalate
from warden.routing.policy import DEFAULT_ROUTING, RouteChoice, RoutingPolicy
from warden.routing.watcher import RoutingWatcher

if TYPE_CHECKING:
    from warden.sdk.run import Run, RunEvents

_default: RoutingWatcher | None = None
_default_lock = threading.Lock()


def default_watcher() -> RoutingWatcher:
    """The shipped policies/routing.toml, for a client with no routing file of its own."""
    global _default
    with _default_lock:
        if _default is None:
            _default = RoutingWatcher(DEFAULT_ROUTING)
        return _default


def watcher_of(client: object) -> RoutingWatcher:
    watcher = getattr(client, "_routing", None)  # a WardenClient's, once loaded (its `routing` property loads it)
    if watcher is None:
        watcher = getattr(client, "routing", None)
    return watcher if isinstance(watcher, RoutingWatcher) else default_watcher()


def policy_of(client: object) -> RoutingPolicy:
    return watcher_of(client).current()


def decision_event(events: RunEvents, step: int, at: float, choice: RouteChoice, kind: DecisionKind,
                   features: Features | None, from_route: str | None, reason: str | None,
                   confidence: float | None) -> AgentEvent:
    """The llm_call that carries the decision (ADR 0015): the chosen model and route, no tokens, $0."""
    return validate(AgentEvent, {
        "event_id": new_event_id(), "event_type": EventType.LLM_CALL, "occurred_at": datetime.fromtimestamp(at, UTC),
        "tenant_id": events.tenant_id, "workflow": events.workflow, "run_id": events.run_id,
        "agent_id": events.agent_id, "user_id": events.user_id, "step": step,
        "body": decision_body(choice, kind, features, from_route, reason, confidence)})


def decision_body(choice: RouteChoice, kind: DecisionKind, features: Features | None, from_route: str | None,
                  reason: str | None, confidence: float | None) -> LlmCall:
    decision = RouteDecision(
        kind=kind, rule=choice.rule, policy_version=choice.policy_version,
        features="{}" if features is None else json.dumps(features, separators=(",", ":"), sort_keys=True),
        from_route=from_route, reason=reason, confidence=confidence, exhausted=choice.exhausted)
    return LlmCall(model=choice.model, provider=choice.provider, input_tokens=0, output_tokens=0, latency_ms=0.0,
                   cost_usd=0.0, route=choice.route, route_decision=decision)


_ROUTE = DecisionKind.ROUTE


class Routed(Protocol):
    """A sync or asyncio run: its events, its client and the route it is on."""

    events: RunEvents
    current_route: str | None

    @property
    def client(self) -> Any: ...


def _reserve(run: Routed, choice: RouteChoice, kind: DecisionKind, features: Features | None,
             from_route: str | None, reason: str | None, confidence: float | None) -> partial[AgentEvent]:
    """Take the decision's step and time under the run's lock; the event is built when it is sent."""
    events = run.events
    with events.lock:
        events.step += 1
        run.current_route = choice.route
        return partial(decision_event, events, events.step, time.time(), choice, kind, features, from_route,
                       reason, confidence)


def _send(run: Routed, build: partial[AgentEvent]) -> None:
    later = getattr(run.client, "emit_later", None)
    if later is not None:
        later(build)  # the WardenClient sends it before its next event, in step order
    else:
        run.client.emit(build())


def decision(run: Routed, features: dict[str, Value]) -> tuple[RouteChoice, partial[AgentEvent]]:
    """The route for `features` and its event's builder, the step and time taken under the run's lock.

    `features` is run.route's own **kwargs dict, made for this call: completed in place (as
    warden.routing.matcher.task_features would copy it), since a copy is a tenth of the call. Written as one
    function, called from Run.route and AsyncRun.route that send it: each call level is a twentieth of the call.
    """
    client = run.client
    watcher = getattr(client, "_routing", None)
    if watcher.__class__ is not RoutingWatcher:
        watcher = watcher_of(client)
    policy = watcher.value if time.monotonic() < watcher.due else watcher.current()  # current() inline: a call less
    check_features(features)
    events = run.events
    features["workflow"] = events.workflow
    features["tenant"] = tenant = events.tenant_id
    if "tenant_tier" not in features:
        tier = policy.tiers.get(tenant)
        if tier is not None:
            features["tenant_tier"] = tier
    choice = decide(policy, features)
    with events.lock:
        events.step += 1
        run.current_route = choice.route
        return choice, partial(_route_event, events, events.step, time.time(), choice, features)


def _route_event(events: RunEvents, step: int, at: float, choice: RouteChoice, features: Features) -> AgentEvent:
    return decision_event(events, step, at, choice, _ROUTE, features, None, None, None)


def escalation(run: Routed, reason: str, confidence: float | None) -> tuple[RouteChoice, partial[AgentEvent]]:
    if not isinstance(reason, str) or not reason or len(reason) > 512:
        raise ValidationError(f"invalid escalation reason: expected a non-empty string of at most 512 "
                              f"characters, got {reason!r:.60}")
    if confidence is not None and (isinstance(confidence, bool) or not isinstance(confidence, int | float)
                                   or not math.isfinite(confidence) or not 0 <= confidence <= 1):
        raise ValidationError(f"invalid escalation confidence: expected a number in 0..1, got {confidence!r}")
    current = run.current_route
    choice = escalate(policy_of(run.client), current)
    return choice, _reserve(run, choice, DecisionKind.ESCALATE, None, current, reason,
                            None if confidence is None else float(confidence))


def escalate_run(run: Run, reason: str, confidence: float | None) -> RouteChoice:
    choice, build = escalation(run, reason, confidence)
    _send(run, build)
    return choice
