"""Property-based fuzz targets over what reads hostile input (issue 13): the codec, Wire.decode,
replay lines and the policy request builder. Each target is a hypothesis test function: CI runs
it with a few hundred examples (tests/*/test_fuzz.py), benchmarks/fuzz.py with 100,000 in all.

The property everywhere: only Warden's own per-record errors come out (DecodeError, ValidationError,
a BadLine, a deny Verdict); anything else is an uncaught exception that would stop a service.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections import Counter
from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.samples import event
from warden.core.codec import AvroCodec
from warden.core.errors import DecodeError, ValidationError
from warden.core.events import AgentEvent, ToolCallRequested
from warden.core.records import Decision
from warden.core.registry import FileSchemaRegistry
from warden.core.wire import Wire
from warden.policy.bundle import load_bundle
from warden.policy.engine import PolicyRequest, evaluate
from warden.policy_evaluator.processor import EvaluatorState, step
from warden.replay.runner import BadLine, read_events

BUNDLE = load_bundle()
WIRE = Wire(AvroCodec(FileSchemaRegistry(Path(tempfile.mkdtemp(prefix="warden-fuzz-")) / "registry.json")))
SEEN: Counter[str] = Counter()  # examples run per target (the benchmark reports them)
ACTIONS = sorted(BUNDLE.tool_schemas.inputs)

# -- strategies -----------------------------------------------------------------------------------

# Avro strings are UTF-8: a surrogate cannot even be encoded, so the wire never carries one.
avro_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
any_text = st.text(max_size=30)  # replay lines and Python callers can hold lone surrogates
numbers = st.one_of(st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.decimals(allow_nan=False),
                    st.sampled_from([100, 100.00004, 1e15, 2**63, 10**400, -0.0, 1e-300]))
json_scalars = st.one_of(st.none(), st.booleans(), numbers.filter(lambda n: not isinstance(n, Decimal)),
                         any_text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(any_text, inner, max_size=4)), max_leaves=20)


@st.composite
def json_texts(draw: st.DrawFn) -> str:
    """Text a client might put in params/output: JSON objects, deep nesting, duplicates, junk."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        depth = draw(st.integers(1, 12_000))
        return '{"a": ' + "[" * depth + "]" * draw(st.sampled_from([depth, 0, depth - 1])) + "}"
    if kind == 1:
        key = draw(st.sampled_from(["amount_usd", "role", "a"]))
        return f'{{"{key}": {draw(st.integers())}, "{key}": {draw(st.integers())}}}'
    if kind == 2:
        return draw(avro_text)
    if kind == 3:
        return '{"a": "' + draw(st.sampled_from(["\\u0000", "\\ud800", "\\udfff x", "NaN", "\\"])) + '"}'
    if kind == 4:
        return "{" + ", ".join(f'"{k}": {v}' for k, v in draw(st.dictionaries(
            st.sampled_from(["order_id", "amount_usd", "role", "user", "x"]),
            st.sampled_from(["1e400", "100.00001", "-1", "null", "[]", '"admin "', "NaN", "Infinity", "1" * 5000]),
            max_size=4)).items()) + "}"
    value = draw(json_values)
    try:
        return json.dumps(value, default=str)
    except (ValueError, RecursionError):
        return "{}"


BODY_FIELDS: dict[str, Any] = {
    "warden.RunStarted": {"workflow_version": avro_text, "prompt_version": avro_text, "model": avro_text},
    "warden.LlmCall": {"model": avro_text, "provider": avro_text, "input_tokens": st.integers(-(2**63), 2**63 - 1),
                       "output_tokens": st.integers(-(2**63), 2**63 - 1), "cached_tokens": st.integers(-5, 5),
                       "latency_ms": st.floats(), "cost_usd": st.none() | st.floats(), "route": st.none() | avro_text},
    "warden.ToolCallRequested": {"call_id": avro_text, "tool": st.sampled_from(["payments", "iam", "crm"]) | avro_text,
                                 "action": st.sampled_from(["refund", "grant_access", "lookup"]) | avro_text,
                                 "resource": st.none() | avro_text, "params": json_texts()},
    "warden.ToolCallCompleted": {"call_id": avro_text, "tool": avro_text,
                                 "status": st.sampled_from(["ok", "error", "denied"]),
                                 "error_code": st.none() | avro_text, "latency_ms": st.floats(),
                                 "output": st.none() | json_texts()},
    "warden.RunCompleted": {"status": st.sampled_from(["succeeded", "failed", "escalated", "aborted"]),
                            "state_change": st.none() | json_texts()},
}
EVENT_TYPES = ["run_started", "llm_call", "tool_call_requested", "tool_call_completed", "run_completed"]
TYPE_OF = dict(zip(["warden.RunStarted", "warden.LlmCall", "warden.ToolCallRequested", "warden.ToolCallCompleted",
                    "warden.RunCompleted"], EVENT_TYPES, strict=True))


@st.composite
def avro_events(draw: st.DrawFn) -> dict[str, Any]:
    """An AgentEvent as fastavro writes it, without the model's checks: what any Kafka client can send."""
    branch = draw(st.sampled_from(sorted(BODY_FIELDS)))
    body = {k: draw(v) for k, v in BODY_FIELDS[branch].items()}
    # Mostly coherent (so the processors see records that pass), sometimes not (so the checks are hit).
    coherent = draw(st.sampled_from([True, True, True, False]))
    event_type = TYPE_OF[branch] if coherent else draw(st.sampled_from(EVENT_TYPES))
    return {"event_id": draw(st.uuids().map(str)) if coherent else draw(avro_text), "event_type": event_type,
            "occurred_at": draw(st.datetimes(timezones=st.just(UTC))), "tenant_id": draw(st.just("acme") | avro_text),
            "workflow": draw(st.sampled_from(["refund_ticket", "provision_access"]) | avro_text),
            "run_id": draw(st.just("run-1") | avro_text), "agent_id": draw(st.just("agent-1") | avro_text),
            "user_id": draw(st.none() | avro_text),
            "step": draw(st.integers(1, 2**31 - 1) if coherent else st.integers(-(2**31), 2**31 - 1)),
            "body": (branch, body)}


GOOD = WIRE.encode(event("tool_call_requested"))


@st.composite
def wire_bytes(draw: st.DrawFn) -> bytes:
    """Mutations of a good record (flips, cuts, splices), and bytes with a valid header and junk after."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        data = bytearray(GOOD)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == 1:
        return GOOD[: draw(st.integers(0, len(GOOD)))] + draw(st.binary(max_size=40))
    if kind == 2:
        return GOOD[:5] + draw(st.binary(max_size=200))
    return draw(st.binary(max_size=64))


# -- targets ----------------------------------------------------------------------------------------

SETTINGS = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _processed(decoded: object) -> None:
    """A record that decodes is one the evaluator acts on: its step must not raise either."""
    if isinstance(decoded, AgentEvent):
        _, outputs = step(EvaluatorState(), BUNDLE, decoded)
        if isinstance(decoded.body, ToolCallRequested):
            assert outputs, "a call gets a decision"


@given(wire_bytes())
def codec_bytes(data: bytes) -> None:
    SEEN["codec"] += 1
    with contextlib.suppress(DecodeError):  # the codec alone names every failure as a DecodeError
        WIRE.codec.decode(data, "warden.AgentEvent")
    with contextlib.suppress(DecodeError, ValidationError):
        _processed(WIRE.decode(data, "warden.AgentEvent"))


@given(avro_events())
def wire_records(record: dict[str, Any]) -> None:
    SEEN["wire"] += 1
    try:
        data = WIRE.codec.encode("warden.AgentEvent", record)
    except Exception:
        return
    skipped: Counter[str] = Counter()
    decoded = WIRE.decode_or_skip(data, "warden.AgentEvent", skipped)
    if decoded is None:
        return
    _processed(decoded)


@st.composite
def replay_lines(draw: st.DrawFn) -> str:
    view = event("tool_call_requested").to_json_view()
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return "[" * draw(st.integers(1, 6000))
    if kind == 1:
        view["body"]["params"] = draw(json_texts())
        return json.dumps(view)
    if kind == 2:
        key = draw(st.sampled_from(sorted(view)))
        view[key] = draw(json_values)
        return json.dumps(view, default=str)
    if kind == 3:
        text = json.dumps(view)
        cut = draw(st.integers(0, len(text)))
        return text[:cut] + draw(any_text) + text[cut:]
    return draw(any_text)


@given(st.lists(replay_lines(), min_size=1, max_size=4))
def replay_text(lines: list[str]) -> None:
    SEEN["replay"] += 1
    text = "\n".join(line.replace("\n", " ") for line in lines) + "\n"
    for _, item in read_events(io.StringIO(text)):
        if not isinstance(item, BadLine):
            _processed(item)


params_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, any_text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(any_text, inner, max_size=4)),
    max_leaves=20)


@st.composite
def requests(draw: st.DrawFn) -> PolicyRequest:
    tool_action = draw(st.sampled_from(ACTIONS) | st.text(max_size=12).map(lambda t: f"{t}.x"))
    tool, _, action = tool_action.partition(".")
    params = draw(st.one_of(st.none(), st.dictionaries(
        st.sampled_from(["order_id", "amount_usd", "role", "user", "customer_id", "row_count"]) | any_text,
        params_values, max_size=5)))
    return PolicyRequest(tenant_id=draw(any_text), workflow=draw(st.sampled_from(sorted(BUNDLE.workflows)) | any_text),
                         agent_id=draw(any_text), tool=tool, action=action, resource=draw(st.none() | any_text),
                         params=params, step=draw(st.integers(-(2**63), 2**63 - 1)),
                         spend_usd=draw(st.floats(min_value=0)), denials=draw(st.integers(0, 2**63 - 1)),
                         at=draw(st.none() | st.datetimes(timezones=st.just(UTC))))


@given(requests())
def policy_requests(request: PolicyRequest) -> None:
    SEEN["policy"] += 1
    verdict = evaluate(BUNDLE, request)
    assert isinstance(verdict.decision, Decision)


TARGETS = {"codec": codec_bytes, "wire": wire_records, "replay": replay_text, "policy": policy_requests}
