"""Simulated agent platforms: realistic runs of the four reference workflows (DESIGN.md).

Deterministic for a seed and a start time, so the same events can be emitted live and
written to a file for `warden replay`. The mix includes every behaviour the later
processors must catch: refunds over $100, exports over 1,000 rows, deletes,
out-of-inventory tools, runaway loops, repeated tool failures, a cost spike, PII in
params and outputs; ``malformed`` makes the records a bad client would send.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from warden.core.events import AgentEvent

TENANTS = ("acme", "globex", "initech")
WORKFLOWS: dict[str, tuple[str, ...]] = {
    "refund_ticket": ("crm.lookup", "payments.refund", "tickets.update", "email.send"),
    "export_report": ("reports.export", "email.send"),
    "provision_access": ("iam.grant_access", "tickets.update"),
    "triage_ticket": ("crm.lookup", "tickets.update", "crm.delete_record"),
}
MODELS = (("gpt-4o-mini", "openai"), ("claude-3-5-haiku", "anthropic"), ("gpt-4o", "openai"))
SPIKE_MODEL = ("claude-3-opus", "anthropic")
UNPRICED_MODEL = ("mistral-large-2411", "mistral")  # missing from the price table on purpose
ROUTES = {"gpt-4o-mini": "cheap", "claude-3-5-haiku": "cheap", "gpt-4o": "default", "claude-3-opus": "escalated"}
NAMES = ("ana", "bo", "chen", "dara", "eli", "fay", "gus", "hana")


@dataclass
class Behaviour:
    """Tallies of what the simulation put in, so the demo summary can say what to look for."""

    runs: int = 0
    refunds_over_100: int = 0
    exports_over_1000: int = 0
    deletes: int = 0
    out_of_inventory: int = 0
    runaway_runs: int = 0
    tool_failures: int = 0
    cost_spike_calls: int = 0
    pii_values: int = 0
    unpriced_runs: int = 0


class Simulator:
    def __init__(self, seed: int, start: datetime, run_prefix: str = "demo") -> None:
        self.rng = random.Random(seed)
        self.clock = start
        self.run_prefix = run_prefix
        self.seen = Behaviour()
        self._uuid = random.Random(f"{seed}:{run_prefix}")  # event ids unique per run prefix

    def _id(self) -> str:
        return str(uuid.UUID(int=self._uuid.getrandbits(128), version=4))

    def _tick(self, low: float = 0.05, high: float = 2.0) -> datetime:
        self.clock += timedelta(seconds=self.rng.uniform(low, high))
        return self.clock

    def events(self, target: int) -> Iterator[AgentEvent]:
        """Runs until at least ``target`` events; a failure burst, a runaway loop and a spike included."""
        emitted = 0
        index = 0
        while emitted < target:
            tenant = TENANTS[index % len(TENANTS)]
            workflow = self.rng.choice(list(WORKFLOWS))
            special = None
            if index == 7 or (index > 0 and index % 400 == 0):
                special = "runaway"
            elif index % 150 == 20:
                special = "failures"
            elif emitted > target * 0.6 and tenant == "initech" and self.rng.random() < 0.5:
                special = "spike"
            for event in self._run(index, tenant, workflow, special):
                emitted += 1
                yield event
            index += 1

    def _run(self, index: int, tenant: str, workflow: str, special: str | None) -> Iterator[AgentEvent]:
        rng = self.rng
        run_id = f"{self.run_prefix}-{index:06d}"
        if special == "failures":
            workflow = "refund_ticket"
        base = {"tenant_id": tenant, "workflow": workflow, "run_id": run_id,
                "agent_id": f"{workflow}-agent-{rng.randint(1, 3)}", "user_id": f"user-{rng.randint(1, 500)}"}
        step = 0
        self.seen.runs += 1

        def event(event_type: str, body: dict[str, Any], gap: float = 1.0) -> AgentEvent:
            nonlocal step
            step += 1
            return AgentEvent.model_validate({
                **base, "event_id": self._id(), "event_type": event_type, "step": step,
                "occurred_at": self._tick(0.01, gap), "body": body})

        model, provider = SPIKE_MODEL if special == "spike" else rng.choice(MODELS)
        if index % 97 == 50:
            model, provider = UNPRICED_MODEL
            self.seen.unpriced_runs += 1
        yield event("run_started", {"workflow_version": "v3", "prompt_version": f"p{rng.randint(1, 4)}",
                                    "model": model})
        tools = list(WORKFLOWS[workflow])
        if special == "runaway":
            self.seen.runaway_runs += 1
            tools = ["crm.lookup"] * 30 if "crm.lookup" in tools else [tools[0]] * 30
        elif rng.random() < 0.03:
            outsider = rng.choice([t for w in WORKFLOWS.values() for t in w if t not in WORKFLOWS[workflow]])
            tools.insert(1, outsider)
            self.seen.out_of_inventory += 1
        failures = special == "failures"
        for tool_action in tools:
            yield self._llm(event, model, provider, spike=special == "spike")
            tool, action = tool_action.split(".")
            call_id = self._id()
            params = self._params(tool_action)
            yield event("tool_call_requested", {"call_id": call_id, "tool": tool, "action": action,
                                                "resource": params.pop("_resource", None),
                                                "params": json.dumps(params)})
            failed = (failures and tool_action == "payments.refund") or rng.random() < 0.02
            if failed:
                self.seen.tool_failures += 1
                yield event("tool_call_completed", {"call_id": call_id, "tool": tool, "status": "error",
                                                    "error_code": "UPSTREAM_TIMEOUT",
                                                    "latency_ms": round(rng.uniform(2000, 5000), 1),
                                                    "output": None}, gap=0.5)
                if failures:  # the agent retries the refund until it gives up
                    for _ in range(5):
                        call_id = self._id()
                        yield event("tool_call_requested", {"call_id": call_id, "tool": tool, "action": action,
                                                            "resource": None, "params": json.dumps(params)})
                        self.seen.tool_failures += 1
                        yield event("tool_call_completed", {
                            "call_id": call_id, "tool": tool, "status": "error", "error_code": "UPSTREAM_TIMEOUT",
                            "latency_ms": round(rng.uniform(2000, 5000), 1), "output": None}, gap=0.5)
                continue
            yield event("tool_call_completed", {"call_id": call_id, "tool": tool, "status": "ok",
                                                "error_code": None, "latency_ms": round(rng.uniform(20, 900), 1),
                                                "output": json.dumps(self._output(tool_action))})
        yield self._llm(event, model, provider, spike=special == "spike")
        status = "failed" if failures else rng.choices(
            ["succeeded", "failed", "escalated", "aborted"], weights=[88, 6, 4, 2])[0]
        change = {"refund_ticket": {"refunded": True}, "export_report": {"exported": True},
                  "provision_access": {"granted": True}, "triage_ticket": {"triaged": True}}[workflow]
        yield event("run_completed", {"status": status,
                                      "state_change": json.dumps(change) if status == "succeeded" else None})

    def _llm(self, event: Any, model: str, provider: str, spike: bool, route: str | None = None) -> AgentEvent:
        result: AgentEvent = event("llm_call", self._llm_body(model, provider, spike, route))
        return result

    def _llm_body(self, model: str, provider: str, spike: bool, route: str | None = None) -> dict[str, Any]:
        """`route`: the route a routing decision chose (demo agents); else the simulator's route of the model."""
        rng = self.rng
        scale = 12 if spike else 1
        if spike:
            self.seen.cost_spike_calls += 1
        input_tokens = rng.randint(300, 3000) * scale
        output_tokens = rng.randint(50, 600) * scale
        priced = rng.random() < 0.5 and model != UNPRICED_MODEL[0]
        cost = round((input_tokens * 2.5 + output_tokens * 10) / 1e6 * (6 if spike else 1), 6) if priced else None
        return {"model": model, "provider": provider, "input_tokens": input_tokens, "output_tokens": output_tokens,
                "cached_tokens": rng.choice([0, 0, 128, 512]), "latency_ms": round(rng.uniform(300, 4000), 1),
                "cost_usd": cost, "route": route or ROUTES.get(model)}

    def _params(self, tool_action: str) -> dict[str, Any]:
        rng = self.rng
        customer = f"cus_{rng.randint(10000, 99999)}"
        if tool_action == "crm.lookup":
            return {"customer_id": customer, "_resource": f"Customer::{customer}"}
        if tool_action == "payments.refund":
            amount = round(rng.uniform(105, 900), 2) if rng.random() < 0.2 else round(rng.uniform(5, 99), 2)
            self.seen.refunds_over_100 += amount > 100
            return {"order_id": f"ord_{rng.randint(100000, 999999)}", "amount_usd": amount}
        if tool_action == "reports.export":
            rows = rng.randint(1500, 50000) if rng.random() < 0.15 else rng.randint(10, 1000)
            self.seen.exports_over_1000 += rows > 1000
            return {"report": rng.choice(["churn", "revenue", "tickets"]), "row_count": rows}
        if tool_action == "crm.delete_record":
            self.seen.deletes += 1
            return {"record_id": f"rec_{rng.randint(1000, 9999)}"}
        if tool_action == "tickets.update":
            return {"ticket_id": f"T-{rng.randint(1000, 9999)}", "status": rng.choice(["pending", "solved"]),
                    "comment": "Updated by agent"}
        if tool_action == "email.send":
            self.seen.pii_values += 1
            return {"to": f"{rng.choice(NAMES)}@example.com", "subject": "Your request",
                    "body": "We have processed your request."}
        role = rng.choices(["viewer", "editor", "admin", "owner"], weights=[60, 25, 10, 5])[0]
        self.seen.pii_values += 1
        # An e-mail address, as the inventory's schema for iam.grant_access requires.
        return {"user": f"{rng.choice(NAMES)}.{rng.randint(1, 99)}@example.com", "role": role}

    def _output(self, tool_action: str) -> dict[str, Any]:
        rng = self.rng
        if tool_action == "crm.lookup":
            self.seen.pii_values += 2
            out: dict[str, Any] = {"name": rng.choice(NAMES).title(), "email": f"{rng.choice(NAMES)}@example.org",
                                   "phone": f"+1 415 555 {rng.randint(1000, 9999)}", "tier": "gold"}
            if rng.random() < 0.1:
                out["card_on_file"] = "4111 1111 1111 1111"
                self.seen.pii_values += 1
            return out
        return {"ok": True}


def malformed(codec_encode: Any, seed: int, start: datetime, count: int, run_prefix: str) -> list[
        tuple[bytes, bytes]]:
    """(key, value) pairs a buggy client would publish: every dead-letter reason the sink names.

    ``codec_encode(name, avro_dict)`` is the raw Avro encoder, which accepts what the typed
    model refuses (step 0, negative tokens, a body of the wrong type, params that are not an object).
    """
    rng = random.Random(seed)
    good: dict[str, Any] = {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "event_type": "llm_call",
            "occurred_at": start, "tenant_id": "acme", "workflow": "refund_ticket", "run_id": "",
            "agent_id": "buggy-agent", "user_id": None, "step": 1,
            "body": ("warden.LlmCall", {"model": "gpt-4o-mini", "provider": "openai", "input_tokens": 10,
                                        "output_tokens": 5, "cached_tokens": 0, "latency_ms": 12.0,
                                        "cost_usd": None})}
    variants: list[dict[str, Any] | bytes] = [
        b"\x7b\"not\": \"avro\"}",
        b"\x00\x00\x00\x03\xe7" + b"\x02" * 12,  # unknown schema id 999
        {**good, "step": 0},
        {**good, "body": ("warden.LlmCall", {**good["body"][1], "input_tokens": -40})},
        {**good, "event_type": "tool_call_requested"},
        {**good, "event_type": "tool_call_requested",
         "body": ("warden.ToolCallRequested", {"call_id": "c1", "tool": "crm", "action": "lookup",
                                               "resource": None, "params": "[1, 2, 3]"})},
        b"truncated",
    ]
    out = []
    for i in range(count):
        variant = variants[i % len(variants)]
        key = f"{run_prefix}-bad-{i:04d}".encode()
        if isinstance(variant, bytes):
            value = variant
            if variant == b"truncated":
                value = codec_encode("warden.AgentEvent", {**good, "run_id": key.decode()})[:-7]
        else:
            value = codec_encode("warden.AgentEvent", {**variant, "run_id": key.decode(),
                                                       "event_id": str(uuid.UUID(int=rng.getrandbits(128),
                                                                                 version=4))})
        out.append((key, value))
    return out
