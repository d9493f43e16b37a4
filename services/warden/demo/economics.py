"""The demo agents' unit economics: a routing decision at the start of a run, an escalation when the agent is
unsure, and the SDK cache for tickets it has answered before, all on the demo's clock and ids.

The agents build their events on a simulated clock with ids from the seed (so a seed makes the same story),
where `run.route`, `run.escalate` and `run.cache` take the wall clock and random ids; so this does what those
do with the SDK's own pieces: `warden.routing.matcher` over the shipped policies/routing.toml, the SDK's
decision and cache event bodies (`decision_body`, `hit_body`, `offer_body`, the redactor included) and the
SDK's `AnswerCache` (per tenant, the workflow's TTL, its decisions from `warden.cache.decide`). `warden
replay` over the demo's events decides the same routes and cache decisions.

Runs of a release under rollout keep the model their release fixes and are not routed nor cached: a rollout
compares releases, and a route or a cache hit would move their cost per task for another reason.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from warden.cache.backends import MemoryBackend
from warden.cache.keys import cache_key
from warden.core.events import AgentEvent, DecisionKind, LlmCall
from warden.routing.features import Features, Value, check_features
from warden.routing.matcher import decide, escalate, task_features
from warden.routing.policy import DEFAULT_ROUTING, RouteChoice, RoutingPolicy, load_routing
from warden.sdk.cache import AnswerCache, hit_body, offer_body
from warden.sdk.routing import decision_body

Event = Callable[[str, Any], AgentEvent]  # the agent's event(type, body): the next step on the demo's clock

# What users ask the triage agent again and again (the cache's repeated answers), and what it answers.
COMMON_TICKETS: tuple[tuple[str, dict[str, str]], ...] = (
    ("I was charged twice for my last order", {"category": "billing", "next_step": "check the payment log"}),
    ("How do I reset my password?", {"category": "account", "next_step": "send the reset guide"}),
    ("Where is my parcel? It has not arrived", {"category": "shipping", "next_step": "look up the tracking"}),
    ("Can I change the delivery address of my order?", {"category": "shipping", "next_step": "check the status"}),
    ("The app crashes when I open my invoices", {"category": "bug", "next_step": "ask for the app version"}),
    ("How do I cancel my subscription?", {"category": "account", "next_step": "send the cancellation steps"}),
    ("Do you ship to Canada?", {"category": "pre-sales", "next_step": "send the shipping countries"}),
    ("My discount code does not work", {"category": "billing", "next_step": "check the code's validity"}),
)
COMMON_SHARE = 0.45  # of triage tickets, one of COMMON_TICKETS; the others are new text
UNSURE_SHARE = 0.08  # of triage runs, the agent's confidence is low and it escalates


@dataclass
class Tally:
    routed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (workflow, route) -> runs
    escalations: int = 0
    hits: int = 0
    offers: int = 0


class Economics:
    def __init__(self, policy: RoutingPolicy | None = None, cache: AnswerCache | None = None) -> None:
        self.policy = policy or load_routing(DEFAULT_ROUTING)
        self.cache = cache or AnswerCache(MemoryBackend(50_000))
        self.seen = Tally()

    def choose(self, tenant: str, workflow: str, features: dict[str, Value]) -> tuple[RouteChoice, Features]:
        """run.route's decision: the features checked, completed with the run's workflow, tenant and tier."""
        seen = task_features(self.policy, tenant, workflow, check_features(features))
        choice = decide(self.policy, seen)
        self.seen.routed[(workflow, choice.route)] += 1
        return choice, seen

    @staticmethod
    def route_event(event: Event, choice: RouteChoice, seen: Features) -> AgentEvent:
        """run.route's event: the llm_call that carries the decision (ADR 0015)."""
        return event("llm_call", decision_body(choice, DecisionKind.ROUTE, seen, None, None, None))

    def escalate(self, event: Event, current: str, reason: str, confidence: float) -> tuple[RouteChoice, AgentEvent]:
        choice = escalate(self.policy, current)
        self.seen.escalations += 1
        return choice, event("llm_call", decision_body(choice, DecisionKind.ESCALATE, None, current, reason,
                                                        confidence))

    def lookup(self, event: Event, tenant: str, at: datetime, model: str, prompt: str, route: str,
               latency_ms: float) -> tuple[Any, AgentEvent] | None:
        """run.cache.lookup at `at`: the answer and its cached llm_call, or None (the agent calls the model)."""
        key = cache_key(tenant, model, "answer", prompt)
        entry = self.cache.get(tenant, key, at)
        if entry is None:
            self.cache.stats["misses"] += 1
            return None
        self.seen.hits += 1
        return entry.output, event("llm_call", hit_body(entry, key, latency_ms, route))

    def offer(self, event: Event, tenant: str, prompt: str, answer: Any, call: LlmCall) -> AgentEvent:
        """run.cache.record: the model call made, offered to the cache (held until the run shows it is safe)."""
        body = offer_body(cache_key(tenant, call.model, "answer", prompt), call.model, call.provider, prompt, answer,
                          call.input_tokens, call.output_tokens, call.latency_ms, call.cached_tokens, call.cost_usd,
                          call.route)
        offered = event("llm_call", body)
        if body.cache_pii is None:
            self.cache.hold(offered, answer, body)
        self.seen.offers += 1
        return offered

    def observe(self, events: list[AgentEvent]) -> None:
        """A run that used the cache, every event in order once it is made (as Run does one by one): the
        hits are decided, and what its answer led to decides whether it is stored."""
        for e in events:
            self.cache.observe(e)

    @staticmethod
    def ticket(rng: Any, index: int) -> tuple[str, Any]:
        """A triage ticket's text (repeated or new) and the answer the model gives it."""
        if rng.random() < COMMON_SHARE:
            text, answer = COMMON_TICKETS[rng.randrange(len(COMMON_TICKETS))]
            return text, json.dumps(answer, sort_keys=True)
        return (f"Ticket {index}: the customer writes about case {rng.randint(1000, 9999)}",
                json.dumps({"category": rng.choice(["billing", "account", "shipping", "bug"]),
                            "next_step": "read the case"}, sort_keys=True))
