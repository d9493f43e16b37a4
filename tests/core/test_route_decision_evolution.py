"""LlmCall.route_decision (ADR 0015) read both ways: today's reader reads calls written before it, and a
reader from before reads a routing decision as a call with no tokens that cost $0, on the chosen route."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.core.samples import event
from warden.core.catalog import SCHEMAS_DIR
from warden.core.codec import AvroCodec
from warden.core.events import AgentEvent, DecisionKind, LlmCall
from warden.core.registry import FileSchemaRegistry
from warden.core.wire import Wire, validate

NAME = "warden.AgentEvent"
DECISION = {"model": "gpt-4o-mini", "provider": "openai", "input_tokens": 0, "output_tokens": 0,
            "latency_ms": 0.0, "cost_usd": 0.0, "route": "cheap",
            "route_decision": {"kind": "escalate", "rule": "escalation", "policy_version": "6c5be0d6c647",
                               "features": json.dumps({"amount_usd": 42.0, "vip": True}), "from_route": "cheap",
                               "reason": "low confidence", "confidence": 0.35, "exhausted": True}}


def schema_before_route_decision() -> dict[str, dict[str, Any]]:
    schema = copy.deepcopy(json.loads((SCHEMAS_DIR / "agent_event.avsc").read_text()))
    body = next(f for f in schema["fields"] if f["name"] == "body")
    llm = next(b for b in body["type"] if b["name"] == "LlmCall")
    llm["fields"] = [f for f in llm["fields"] if f["name"] != "route_decision"]
    return {NAME: schema}


@pytest.fixture
def registry(tmp_path: Path) -> FileSchemaRegistry:
    return FileSchemaRegistry(tmp_path / "registry.json")


def test_a_decision_round_trips_with_every_field(registry: FileSchemaRegistry) -> None:
    wire = Wire(AvroCodec(registry))
    original = event("llm_call", body=DECISION)
    decoded = wire.decode(wire.encode(original), NAME)
    assert decoded == original
    assert isinstance(decoded, AgentEvent) and isinstance(decoded.body, LlmCall) and decoded.body.is_decision
    assert decoded.body.route_decision is not None and decoded.body.route_decision.kind is DecisionKind.ESCALATE


def test_todays_reader_reads_a_call_written_before(registry: FileSchemaRegistry) -> None:
    before, now = AvroCodec(registry, schema_before_route_decision()), Wire(AvroCodec(registry))
    original = event("llm_call")
    branch, fields = original.to_avro()["body"]
    written = {**original.to_avro(), "body": (branch, {k: v for k, v in fields.items() if k != "route_decision"})}
    decoded = now.decode(before.encode(NAME, written), NAME)
    assert decoded == original
    assert isinstance(decoded, AgentEvent) and isinstance(decoded.body, LlmCall) and not decoded.body.is_decision


def test_a_reader_from_before_sees_a_free_call_on_the_chosen_route(registry: FileSchemaRegistry) -> None:
    before, now = AvroCodec(registry, schema_before_route_decision()), Wire(AvroCodec(registry))
    decision = event("llm_call", body=DECISION)
    _, record = before.decode(now.encode(decision), NAME)
    fields = record["body"][1]
    assert "route_decision" not in fields
    assert (fields["input_tokens"], fields["output_tokens"], fields["cost_usd"], fields["route"], fields["model"]) \
        == (0, 0, 0.0, "cheap", "gpt-4o-mini")
    old_view = validate(AgentEvent, record)  # what an old reader's model holds: a valid llm_call
    assert isinstance(old_view.body, LlmCall) and old_view.body.route_decision is None


def test_features_must_be_a_json_object() -> None:
    bad = {**DECISION, "route_decision": {**DECISION["route_decision"], "features": "[1]"}}  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="features must be a JSON object"):
        event("llm_call", body=bad)
