"""Routed runs made by the SDK's own Run (run.route, run.escalate), for the aggregator, replay and ledger tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from warden.core.events import AgentEvent, LlmCall
from warden.sdk.run import Run


@dataclass
class Collect:
    """A RunClient that keeps what the run emits, in order."""

    events: list[AgentEvent] = field(default_factory=list)

    def emit(self, event: AgentEvent) -> None:
        self.events.append(event)

    def flush(self, timeout_s: float | None = None) -> None: ...

    def gate(self) -> Any: ...

    def authorize(self, *args: Any, **kwargs: Any) -> Any: ...


WORKFLOWS = ("refund_ticket", "triage_ticket", "export_report")


def routed_runs(count: int, start: datetime, *, seed: int = 7, every_s: float = 30.0, prefix: str = "rr",
                tokens: int = 1000, escalate_share: float = 0.25, fail_share: float = 0.1,
                routing: Any = None) -> list[AgentEvent]:
    """`count` runs of the shipped workflows, each routed once (amounts around the small-refund line) and
    escalated with `escalate_share`; event times follow the run's start, decisions included."""
    rng = random.Random(seed)
    client = Collect()
    if routing is not None:
        client.routing = routing  # type: ignore[attr-defined]
    for i in range(count):
        at = start + timedelta(seconds=i * every_s)
        workflow = WORKFLOWS[i % len(WORKFLOWS)]
        run = Run(client, ("acme", "globex", "initech")[i % 3], workflow, "agent-1", f"{prefix}-{i}", None)
        run.started("v3", "p1", "gpt-4o", at=at)
        first = len(client.events)
        choice = run.route(amount_usd=round(rng.uniform(5, 160), 2), input_tokens=tokens)
        run.llm_call(choice.model, choice.provider, tokens, tokens // 10, 400.0, route=choice.route,
                     at=at + timedelta(seconds=2))
        if rng.random() < escalate_share:
            up = run.escalate("low confidence", confidence=round(rng.uniform(0.1, 0.6), 2))
            run.llm_call(up.model, up.provider, tokens, tokens // 10, 600.0, route=up.route,
                         at=at + timedelta(seconds=4))
        run.completed("failed" if rng.random() < fail_share else "succeeded", at=at + timedelta(seconds=5))
        for n in range(first, len(client.events)):  # decisions are timed by the clock: put them in the story
            event = client.events[n]
            if isinstance(event.body, LlmCall) and event.body.route_decision is not None:
                client.events[n] = event.model_copy(update={"occurred_at": at + timedelta(seconds=1 + n - first)})
    return client.events
