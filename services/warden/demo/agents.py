"""The demo story's simulated agent platforms: runs that ask the SDK which release to run.

Every run asks ``assign(tenant, workflow, unit)`` first, the signature of the SDK's
``WardenClient.release_for`` (the demo passes exactly that; tests pass the pure
``warden.core.rollout_assign.assign`` over a known stage): it runs the release it is given, and when the
workflow is switched off it takes the workflow's fallback and calls no tool. The unit is the
tenant's user, so a user in a candidate's 5% stays in it at 25%.

Unlike ``Simulator.events`` (every behaviour, often: what the benchmarks and processor tests want),
these agents behave as agents that could go past 25% of traffic do: no deletes, no exports over
1,000 rows and no tools outside the inventory, except in the one incident the story stages
(``incident``); a cost spike is one short burst. The releases under rollout use one model each,
priced from the price table, so their cost per task differs by what the release changes
(``RELEASES``) and not by which model a run happened to draw.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from warden.core.events import AgentEvent, LlmCall
from warden.core.rollout_assign import Assignment
from warden.demo.economics import UNSURE_SHARE, Economics
from warden.demo.simulator import MODELS, NAMES, SPIKE_MODEL, TENANTS, Behaviour, Simulator

Assign = Callable[[str, str, str], Assignment]

# The tools a well-behaved agent of each workflow calls (the inventory may hold more: triage may delete).
TOOLS: dict[str, tuple[str, ...]] = {
    "refund_ticket": ("crm.lookup", "payments.refund", "tickets.update", "email.send"),
    "export_report": ("reports.export", "email.send"),
    "provision_access": ("iam.grant_access", "tickets.update"),
    "triage_ticket": ("crm.lookup", "tickets.update"),
}
BASELINE = "v3"


@dataclass(frozen=True)
class Release:
    """What a release of a workflow under rollout does differently."""

    model: tuple[str, str]
    token_scale: float = 1.0  # a longer prompt or answer: the tokens of every LLM call, scaled
    outcomes: tuple[int, int, int, int] = (98, 1, 1, 0)  # weights of succeeded, failed, escalated, aborted


RELEASES: dict[tuple[str, str], Release] = {
    ("refund_ticket", "v3"): Release(("gpt-4o", "openai")),
    ("refund_ticket", "v4"): Release(("gpt-4o", "openai"), token_scale=1.4),  # +40% tokens: +40% cost per task
    ("export_report", "v3"): Release(("gpt-4o-mini", "openai")),
    ("export_report", "v4"): Release(("gpt-4o-mini", "openai"), outcomes=(99, 1, 0, 0)),
}


def no_rollouts(tenant_id: str, workflow: str, unit: str) -> Assignment:
    return Assignment(None)


@dataclass
class Tally(Behaviour):
    """What the agents did, beyond the behaviours: releases assigned, and runs sent to a fallback."""

    releases: Counter[tuple[str, str]] = field(default_factory=Counter)  # (workflow, release) -> runs
    fallbacks: Counter[tuple[str, str]] = field(default_factory=Counter)  # (workflow, fallback) -> runs
    incident_run: str = ""


class Platform:
    """Deterministic for a seed, a start and the answers of ``assign``."""

    def __init__(self, seed: int, start: datetime, run_prefix: str, assign: Assign = no_rollouts,
                 economics: Economics | None = None) -> None:
        self.start = start
        self.economics = economics or Economics()  # routing and the cache (warden.demo.economics)
        self.sim = Simulator(seed, start, run_prefix)
        self.rng = self.sim.rng
        self.assign = assign
        self.seen = Tally()
        self.sim.seen = self.seen
        self.index = 0
        self.spike_runs = 0

    @property
    def clock(self) -> datetime:
        return self.sim.clock

    def until(self, cutoff: datetime | None, weights: dict[str, float], spike: int = 0,
              events: int | None = None) -> list[AgentEvent]:
        """Runs in the mix of ``weights``, every one that starts before ``cutoff`` (the last ones may end
        after it), or until there are ``events``. ``spike``: that many runs of tenant initech use a far
        dearer model (the cost-spike alert)."""
        names, shares = list(weights), list(weights.values())
        out: list[AgentEvent] = []
        spiked = 0
        while (cutoff is None or self.clock < cutoff) and (events is None or len(out) < events):
            tenant = TENANTS[self.index % len(TENANTS)]
            workflow = self.rng.choices(names, shares)[0]
            special = None
            if self.index % 400 == 7:
                workflow, special = "triage_ticket", "runaway"  # a loop: the step limit pages
            elif self.index % 250 == 20:
                workflow, special = "provision_access", "failures"  # an upstream outage: repeated failures page
            elif workflow in ("provision_access", "triage_ticket") and tenant == "initech" and spiked < spike:
                special, spiked = "spike", spiked + 1
            out.extend(self.run(tenant, workflow, special))
        return out

    def jump(self, to: datetime) -> None:
        """Nothing happens until ``to`` (the demo uses it to step past a gate's cut-off)."""
        self.sim.clock = max(self.sim.clock, to)

    def run(self, tenant: str, workflow: str, special: str | None = None,
            user: str | None = None) -> list[AgentEvent]:
        rng = self.rng
        self.index += 1
        user = user or f"user-{rng.randint(1, 500)}"
        choice = self.assign(tenant, workflow, f"{tenant}/{user}")
        if choice.fallback is not None:
            self.seen.fallbacks[(workflow, choice.fallback.value)] += 1
            return []  # switched off: the agent hands the task to its fallback and calls no tool
        release = choice.release or BASELINE
        self.seen.releases[(workflow, release)] += 1
        profile = RELEASES.get((workflow, release))
        events = list(self._run(tenant, workflow, user, release if choice.release else None, profile, special))
        if workflow == "triage_ticket" and profile is None and special != "spike":
            self.economics.observe(events)  # it looked up the cache: its events decide what is kept
        return events

    def _run(self, tenant: str, workflow: str, user: str, release: str | None, profile: Release | None,
             special: str | None) -> Iterator[AgentEvent]:
        sim, rng = self.sim, self.rng
        run_id = f"{sim.run_prefix}-{self.index:06d}"
        base = {"tenant_id": tenant, "workflow": workflow, "run_id": run_id,
                "agent_id": f"{workflow}-agent-{rng.randint(1, 3)}", "user_id": user}
        step = 0
        sim.seen.runs += 1

        def event(event_type: str, body: dict[str, Any], gap: float = 1.0) -> AgentEvent:
            nonlocal step
            step += 1
            return AgentEvent.model_validate({
                **base, "event_id": sim._id(), "event_type": event_type, "step": step,
                "occurred_at": sim._tick(0.01, gap), "body": body})

        routed = profile is None and special != "spike"  # a release under rollout keeps its model; a spike is
        # an agent misconfigured on a far dearer model, past its routing
        params: dict[str, dict[str, Any]] = {}
        route: str | None = None
        if profile is not None:
            model, provider = profile.model
        elif not routed:
            model, provider = SPIKE_MODEL
        else:
            features: dict[str, Any] = {"input_tokens": rng.randint(300, 6000)}
            if workflow == "provision_access":
                params["iam.grant_access"] = self._params("iam.grant_access")
                features["role"] = params["iam.grant_access"]["role"]
            else:
                features["intent"] = "triage" if workflow == "triage_ticket" else workflow
            choice, seen = self.economics.choose(tenant, workflow, features)
            model, provider, route = choice.model, choice.provider, choice.route
        yield event("run_started", {"workflow_version": BASELINE, "prompt_version": f"p{rng.randint(1, 4)}",
                                    "model": model, "release": release})
        if routed:
            yield self.economics.route_event(event, choice, seen)  # run.route, at the start of the run
        tools = list(TOOLS[workflow])
        if special == "runaway":
            sim.seen.runaway_runs += 1
            tools = [tools[0]] * 30
        failures = special == "failures"
        for n, tool_action in enumerate(tools):
            if routed and workflow == "triage_ticket" and n == 0:
                yield from self._triage_answer(event, tenant, model, provider, route or "")
                if rng.random() < UNSURE_SHARE:  # low confidence in its reading of the ticket: a stronger model
                    choice, escalated = self.economics.escalate(event, route or "", "low_confidence",
                                                                round(rng.uniform(0.2, 0.5), 2))
                    model, provider, route = choice.model, choice.provider, choice.route
                    yield escalated
            elif profile is None or n == 0:  # a release under rollout plans its calls in one turn
                yield self._llm(event, model, provider, profile, special == "spike", route)
            yield from self._call(event, tool_action, failing=failures and tool_action == tools[0],
                                  params=params.get(tool_action))
            if failures and tool_action == tools[0]:
                break  # the agent gives up after its retries
        yield self._llm(event, model, provider, profile, special == "spike", route)
        weights = list(profile.outcomes) if profile else [93, 3, 3, 1]
        status = "failed" if failures else rng.choices(["succeeded", "failed", "escalated", "aborted"], weights)[0]
        change = {"refund_ticket": {"refunded": True}, "export_report": {"exported": True},
                  "provision_access": {"granted": True}, "triage_ticket": {"triaged": True}}[workflow]
        yield event("run_completed", {"status": status,
                                      "state_change": json.dumps(change) if status == "succeeded" else None})

    def _call(self, event: Any, tool_action: str, failing: bool = False, params: dict[str, Any] | None = None,
              denied: bool = False) -> Iterator[AgentEvent]:
        """``denied``: the agent hears the deny from the SDK gate and the call never runs (no completion)."""
        sim, rng = self.sim, self.rng
        tool, action = tool_action.split(".")
        params = dict(params) if params is not None else self._params(tool_action)
        resource = params.pop("_resource", None)
        for attempt in range(6 if failing else 1):
            call_id = sim._id()
            yield event("tool_call_requested", {"call_id": call_id, "tool": tool, "action": action,
                                                "resource": resource if attempt == 0 else None,
                                                "params": json.dumps(params)})
            if denied:
                return
            if failing or rng.random() < 0.01:
                sim.seen.tool_failures += 1
                yield event("tool_call_completed", {"call_id": call_id, "tool": tool, "status": "error",
                                                    "error_code": "UPSTREAM_TIMEOUT",
                                                    "latency_ms": round(rng.uniform(2000, 5000), 1),
                                                    "output": None}, gap=0.5)
                continue
            yield event("tool_call_completed", {"call_id": call_id, "tool": tool, "status": "ok",
                                                "error_code": None, "latency_ms": round(rng.uniform(20, 900), 1),
                                                "output": json.dumps(sim._output(tool_action))})

    def _params(self, tool_action: str) -> dict[str, Any]:
        """The simulator's params, within what a well-behaved agent asks: refunds over $100 are rare
        (they wait for a human), exports stay within 1,000 rows, privileged roles are rare."""
        rng, seen = self.rng, self.seen
        if tool_action == "payments.refund":
            amount = round(rng.uniform(105, 900), 2) if rng.random() < 0.06 else round(rng.uniform(5, 99), 2)
            seen.refunds_over_100 += amount > 100
            return {"order_id": f"ord_{rng.randint(100000, 999999)}", "amount_usd": amount}
        if tool_action == "reports.export":
            return {"report": rng.choice(["churn", "revenue", "tickets"]), "row_count": rng.randint(10, 1000)}
        if tool_action == "iam.grant_access":
            role = rng.choices(["viewer", "editor", "admin", "owner"], weights=[70, 24, 4, 2])[0]
            seen.pii_values += 1
            return {"user": f"{rng.choice(NAMES)}.{rng.randint(1, 99)}@example.com", "role": role}
        return self.sim._params(tool_action)

    def _triage_answer(self, event: Any, tenant: str, model: str, provider: str, route: str) -> Iterator[AgentEvent]:
        """The ticket read: run.cache.lookup first (a ticket answered before, for this tenant), else the model
        call, offered to the cache with run.cache.record."""
        prompt, answer = self.economics.ticket(self.rng, self.index)
        found = self.economics.lookup(event, tenant, self.sim.clock, model, prompt, route, latency_ms=2.0)
        if found is not None:
            yield found[1]
            return
        call = LlmCall.model_validate(self.sim._llm_body(model, provider, spike=False, route=route))
        yield self.economics.offer(event, tenant, prompt, answer, call)

    def _llm(self, event: Any, model: str, provider: str, profile: Release | None, spike: bool,
             route: str | None = None) -> AgentEvent:
        if profile is None:
            return self.sim._llm(event, model, provider, spike=spike, route=route)
        rng = self.rng
        scale = profile.token_scale
        result: AgentEvent = event("llm_call", {
            "model": model, "provider": provider, "input_tokens": round(rng.randint(1800, 2600) * scale),
            "output_tokens": round(rng.randint(300, 500) * scale), "cached_tokens": 0,
            "latency_ms": round(rng.uniform(300, 2500), 1), "cost_usd": None, "route": "default"})
        return result

    def incident(self, tenant: str = "globex") -> list[AgentEvent]:
        """A triage ticket whose text tells the agent to delete the customer and export every record: the
        agent deletes (a stop-ship condition: the kill switch trips), then tries a 48,000-row export, a
        tool outside its inventory (denied by the switch, and by two more stop-ship policies)."""
        workflow = "triage_ticket"
        self.index += 1
        choice = self.assign(tenant, workflow, f"{tenant}/user-13")
        if choice.fallback is not None:
            return []
        sim, rng = self.sim, self.rng
        run_id = f"{sim.run_prefix}-{self.index:06d}"
        self.seen.incident_run = run_id
        self.seen.releases[(workflow, choice.release or BASELINE)] += 1
        base = {"tenant_id": tenant, "workflow": workflow, "run_id": run_id, "agent_id": f"{workflow}-agent-2",
                "user_id": "user-13"}
        step = 0
        sim.seen.runs += 1

        def event(event_type: str, body: dict[str, Any], gap: float = 1.0) -> AgentEvent:
            nonlocal step
            step += 1
            return AgentEvent.model_validate({
                **base, "event_id": sim._id(), "event_type": event_type, "step": step,
                "occurred_at": sim._tick(0.01, gap), "body": body})

        model, provider = MODELS[0]
        out = [event("run_started", {"workflow_version": BASELINE, "prompt_version": "p2", "model": model,
                                     "release": choice.release})]
        out.append(self.sim._llm(event, model, provider, spike=False))
        out.extend(self._call(event, "crm.lookup"))
        out.append(self.sim._llm(event, model, provider, spike=False))
        record = f"rec_{rng.randint(1000, 9999)}"
        self.seen.deletes += 1
        out.extend(self._call(event, "crm.delete_record", params={"record_id": record}, denied=True))
        out.append(self.sim._llm(event, model, provider, spike=False))
        self.seen.exports_over_1000 += 1
        self.seen.out_of_inventory += 1
        out.extend(self._call(event, "reports.export", params={"report": "customers", "row_count": 48_000},
                              denied=True))
        out.append(event("run_completed", {"status": "failed", "state_change": None}))
        return out
