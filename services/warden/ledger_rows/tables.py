"""Which topic lands in which ledger table, and how a typed record becomes a row.

The column lists here are the hashed content of each record (the hash chain covers
exactly these plus record_id, chain_key and chain_seq), so `warden ledger verify`
recomputes hashes from what an analyst can read.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from warden.core import records, topics
from warden.core.events import (
    AgentEvent,
    LlmCall,
    RunCompleted,
    RunStarted,
    ToolCallCompleted,
    ToolCallRequested,
)
from warden.core.redaction import redact, redact_many
from warden.ledger_rows.dead_letters import redact_bytes

CHAIN_COLUMNS = ("record_id", "chain_key", "chain_seq")
SOURCE_COLUMNS = ("src_topic", "src_partition", "src_offset")
LINK_COLUMNS = ("prev_hash", "hash", "hash_key_id")  # hash_key_id: the ledger key that linked it ("" legacy)

_CACHE_COLUMNS = ("cache_key", "cache_hit", "cache_pii", "saved_input_tokens", "saved_output_tokens", "saved_usd")
_BODY_COLUMNS = (
    "workflow_version", "prompt_version", "model", "provider", "input_tokens", "output_tokens",
    "cached_tokens", "latency_ms", "cost_usd", "call_id", "tool", "action", "resource", "params",
    "status", "error_code", "output", "state_change", "route", "release",
    *_CACHE_COLUMNS, "route_decision",
)
_EVENT_BODIES = (RunStarted, LlmCall, ToolCallRequested, ToolCallCompleted, RunCompleted)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


def _model_row(message: BaseModel) -> dict[str, Any]:
    return {name: _plain(getattr(message, name)) for name in type(message).model_fields}


_EVENT_HEAD = tuple(n for n in AgentEvent.model_fields if n != "body")


def event_row(event: BaseModel) -> dict[str, Any]:
    """Flatten the body into nullable columns and redact params, output and state_change."""
    assert isinstance(event, AgentEvent)
    # Read from the validated models' __dict__ (their fields, no more): the sink flattens every event.
    head = event.__dict__
    row = {name: head[name] for name in _EVENT_HEAD}
    row["event_type"] = event.event_type.value
    row.update(dict.fromkeys(_BODY_COLUMNS))
    body = event.body
    for name, value in body.__dict__.items():
        row[name] = value.value if isinstance(value, StrEnum) else value
    if isinstance(body, LlmCall) and body.route_decision is not None:  # a routing decision (ADR 0015)
        decision = body.route_decision.model_dump(mode="json")
        decision["features"] = json.loads(decision["features"])  # one JSON object, not JSON in a string
        row["route_decision"] = json.dumps(decision, sort_keys=True, separators=(",", ":"))  # redacted like params
    params, output, state_change, route_decision = row["params"], row["output"], row["state_change"], \
        row["route_decision"]
    if params or output or state_change or route_decision:  # only these carry free text
        texts, counts = redact_many(params, output, state_change, route_decision)
        row["params"], row["output"], row["state_change"], row["route_decision"] = texts
        row["redactions"] = sum(counts.values())
        row["redaction_kinds"] = sorted(kind for kind, n in counts.items() if n)
    else:
        row["redactions"], row["redaction_kinds"] = 0, []
    return row


def dead_letter_row(message: BaseModel) -> dict[str, Any]:
    """The body and reason redacted (again: a letter from another service may not have been), counted;
    the sealed original, when there is one, as the Fernet token's text."""
    row = _model_row(message)
    body, counts = redact_bytes(row["raw"])
    reason = redact(row["reason"])
    for kind, n in reason.counts.items():
        counts[kind] = counts.get(kind, 0) + n
    row["raw"] = base64.b64encode(body).decode("ascii")
    row["reason"] = reason.text or ""
    row["raw_sealed"] = (row["raw_sealed"] or b"").decode("ascii")
    row["raw_key_id"] = row["raw_key_id"] or ""
    row["redactions"] = sum(counts.values())
    row["redaction_kinds"] = sorted(kind for kind, n in counts.items() if n)
    return row


def eval_result_row(message: BaseModel) -> dict[str, Any]:
    """Reasons and violations quote params and world values: redacted like an event's params."""
    row = _model_row(message)
    texts, counts = redact_many(*row["reasons"], *row["violations"])
    n = len(row["reasons"])
    row["reasons"], row["violations"] = [t or "" for t in texts[:n]], [t or "" for t in texts[n:]]
    row["redactions"] = sum(counts.values())
    return row


def _json(value: BaseModel | dict[str, BaseModel] | None) -> str | None:
    if value is None:
        return None
    data = {k: v.model_dump(mode="json") for k, v in value.items()} if isinstance(value, dict) \
        else value.model_dump(mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def control_row(message: BaseModel) -> dict[str, Any]:
    """A rollout's stage or command rides on a Control record (ADR 0010): kept as JSON."""
    row = _model_row(message)
    row["rollout"], row["rollout_command"] = _json(row["rollout"]), _json(row["rollout_command"])
    return row


def control_id(m: records.Control) -> str:
    """Switch rows keep the id they had; a rollout record adds what tells it from the stage's others."""
    extra = () if m.is_switch else (m.rollout.rollout_id, m.rollout.seq) if m.rollout else (
        m.rollout_command.command_id if m.rollout_command else "",)
    return _digest(m.kind, m.scope, m.active, m.actor, m.at, *extra)


def rollout_decision_row(message: BaseModel) -> dict[str, Any]:
    row = _model_row(message)
    row["metrics"], row["baseline_metrics"] = _json(row["metrics"]) or "{}", _json(row["baseline_metrics"]) or "{}"
    return row


def _digest(*parts: Any) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Table:
    name: str
    topic: str
    model: type[BaseModel]
    columns: tuple[str, ...]
    record_id: Callable[[Any], str]
    to_row: Callable[[BaseModel], dict[str, Any]] = _model_row
    # Columns added after the table's first version, with their defaults. They join a record's
    # hash only when they differ from the default, so rows written before they existed still
    # verify (and a later change of such a value is still caught).
    added: tuple[tuple[str, Any], ...] = ()

    # The column lists are computed once per table (cached_property writes the instance's __dict__, which a
    # frozen dataclass allows): the sink asks for them on every row.
    @cached_property
    def hashed_columns(self) -> tuple[str, ...]:
        """What `warden ledger verify` reads back to recompute a hash."""
        return self.base_columns + CHAIN_COLUMNS + tuple(name for name, _ in self.added)

    @cached_property
    def base_columns(self) -> tuple[str, ...]:
        extra = {name for name, _ in self.added}
        return tuple(c for c in self.columns if c not in extra)

    @cached_property
    def _always_hashed(self) -> tuple[str, ...]:
        return self.base_columns + CHAIN_COLUMNS

    def hashed_values(self, row: dict[str, Any]) -> list[Any]:
        values = [row[c] for c in self._always_hashed]
        values.extend([name, row[name]] for name, default in self.added if row[name] != default)
        return values

    @cached_property
    def insert_columns(self) -> tuple[str, ...]:
        return self.columns + CHAIN_COLUMNS + SOURCE_COLUMNS + LINK_COLUMNS


def _fields(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(model.model_fields)


def _added(model: type[BaseModel], first: str) -> tuple[tuple[str, Any], ...]:
    """The fields from `first` on, with their defaults: what a schema change added to the record."""
    names = list(model.model_fields)
    return tuple((name, model.model_fields[name].get_default(call_default_factory=True))
                 for name in names[names.index(first):])


_EVENT_COLUMNS = tuple(n for n in AgentEvent.model_fields if n != "body") + _BODY_COLUMNS + (
    "redactions", "redaction_kinds")

TABLES: dict[str, Table] = {
    t.topic: t
    for t in (
        Table("agent_events", topics.AGENT_EVENTS, AgentEvent, _EVENT_COLUMNS,
              lambda m: m.event_id, event_row,
              added=(("route", None), ("release", None), *((c, None) for c in _CACHE_COLUMNS),
                     ("route_decision", None))),
        Table("policy_decisions", topics.POLICY_DECISIONS, records.PolicyDecision, _fields(records.PolicyDecision),
              lambda m: m.decision_id, added=(("stop_ship", False),)),
        Table("risk_scores", topics.RISK_SCORES, records.RiskScore, _fields(records.RiskScore),
              lambda m: m.event_id, added=_added(records.RiskScore, "tenant_id")),
        Table("approvals", topics.APPROVAL_DECISIONS, records.ApprovalDecision, _fields(records.ApprovalDecision),
              lambda m: m.approval_id),
        Table("cost_rollups", topics.COST_ROLLUPS, records.CostRollup, _fields(records.CostRollup),
              lambda m: m.rollup_id or _digest(m.window_start, m.window_end, m.tenant_id, m.workflow, m.model),
              added=_added(records.CostRollup, "rollup_id")),
        Table("alerts", topics.ALERTS, records.Alert, _fields(records.Alert),
              lambda m: f"{m.alert_id}:{m.count}" if m.status == "firing" else f"{m.alert_id}:{m.count}:{m.status}",
              added=_added(records.Alert, "rule")),
        Table("dead_letters", topics.DEADLETTER, records.DeadLetter,
              (*_fields(records.DeadLetter), "redactions", "redaction_kinds"), lambda m: m.dead_letter_id,
              dead_letter_row, added=(("raw_sealed", ""), ("raw_key_id", ""), ("redactions", 0),
                                      ("redaction_kinds", []))),
        Table("control_changes", topics.CONTROL, records.Control, _fields(records.Control),
              control_id, control_row, added=_added(records.Control, "rollout")),
        Table("proxy_calls", topics.PROXY_CALLS, records.ProxyCall, _fields(records.ProxyCall),
              lambda m: m.proxy_call_id),
        Table("eval_runs", topics.EVAL_RUNS, records.EvalRun, _fields(records.EvalRun), lambda m: m.eval_run_id),
        Table("eval_results", topics.EVAL_RESULTS, records.EvalResult, (*_fields(records.EvalResult), "redactions"),
              lambda m: m.result_id, eval_result_row),
        Table("rollout_decisions", topics.ROLLOUT_DECISIONS, records.RolloutDecision,
              _fields(records.RolloutDecision), lambda m: m.decision_id, rollout_decision_row,
              added=_added(records.RolloutDecision, "commanded_at")),
    )
}
TABLES_BY_NAME = {t.name: t for t in TABLES.values()}
