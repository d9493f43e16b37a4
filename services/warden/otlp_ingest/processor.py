"""The pure step of OTLP ingest: (state, spans, now) -> AgentEvents and refusals, then the state change.

A run is one ``invoke_agent`` span. Its inference spans (``chat``...) and ``execute_tool`` spans are
those whose nearest ``invoke_agent`` ancestor it is. An exporter sends spans as they END, so the
agent span (which ends last) comes with or after its children: a child whose ancestry is not known
yet waits in the state (``pending``) until its agent arrives, and the run is made whole when it
does: run_started, the calls in time order, run_completed, steps numbered from 1. A child still
unattributed after ``pending_timeout_s`` is refused. Everything that does not map is a Refusal
with the reason (the shell dead-letters it): nothing is dropped silently.

``plan`` never mutates the state: the shell produces the plan's records and applies its Change only
once the broker has them, so an export answered with a retryable error is mapped again in full.
Event ids are uuid5 of the trace and span ids, and every span key that reached an outcome is
remembered (bounded), so a re-sent export adds nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from warden.core.errors import ValidationError
from warden.core.events import AgentEvent, EventType, RunStatus, ToolStatus
from warden.core.seen import SeenIds
from warden.core.wire import validate
from warden.otlp_ingest import semconv as sc
from warden.otlp_ingest.spans import Span

NAMESPACE = uuid.UUID("3f0c9b52-7a1e-4c55-9d2b-6e8a0f41c7d3")
MAX_DEPTH = 256
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Reason(StrEnum):
    NOT_GENAI = "not_genai"  # no gen_ai.operation.name
    UNSUPPORTED_OPERATION = "unsupported_operation"  # embeddings, retrieval, create_agent, invoke_workflow...
    NO_AGENT = "no_agent"  # its whole ancestry is known and holds no invoke_agent span
    NO_TENANT = "no_tenant"  # the run has no warden.tenant_id or warden.workflow
    INVALID = "invalid"  # the span maps to an event that breaks the AgentEvent contract
    LATE = "late"  # its run was made before it arrived
    PENDING_TIMEOUT = "pending_timeout"  # its invoke_agent ancestor did not arrive in time


@dataclass(frozen=True)
class Refusal:
    span: Span
    reason: Reason
    detail: str
    run_id: str | None = None


@dataclass(frozen=True)
class Config:
    pending_timeout_s: float = 60.0
    trace_ttl_s: float = 600.0  # a trace's ancestry is forgotten this long after its last span
    tool_aliases: Mapping[str, str] = field(default_factory=dict)  # framework tool name -> "tool.action"
    done_capacity: int = 100_000


@dataclass
class Trace:
    parents: dict[str, str | None] = field(default_factory=dict)  # every span seen: span id -> parent id
    agents: dict[str, bool] = field(default_factory=dict)  # invoke_agent span id -> made (True) / refused
    touched: float = 0.0


@dataclass(frozen=True)
class Pending:
    span: Span
    since: float


@dataclass
class IngestState:
    traces: dict[str, Trace] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)  # span key -> a child waiting for its run
    done: SeenIds = field(default_factory=lambda: SeenIds(100_000))  # span keys that reached an outcome


@dataclass
class Change:
    links: list[tuple[str, str, str | None]] = field(default_factory=list)
    agents: dict[tuple[str, str], bool] = field(default_factory=dict)
    pending_add: dict[str, Pending] = field(default_factory=dict)
    pending_remove: set[str] = field(default_factory=set)
    done: list[str] = field(default_factory=list)


@dataclass
class Plan:
    events: list[AgentEvent] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    runs: int = 0
    duplicates: int = 0
    pending: int = 0  # spans of this export left waiting for their run
    change: Change = field(default_factory=Change)


def run_id_of(span: Span) -> str:
    """Readable and traceable back to the trace: otel-<trace id>-<invoke_agent span id>."""
    return f"otel-{span.trace_id}-{span.span_id}"


def event_id(span: Span, event_type: EventType) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{span.trace_id}:{span.span_id}:{event_type.value}"))


def _at(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=ns // 1000)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _first(span: Span, *names: str, resource: bool = True) -> str | None:
    """The span's attribute, else (``resource``) the resource's, for the first name that has a value."""
    for name in names:
        found = _text(span.attributes.get(name))
        if found is None and resource:
            found = _text(span.resource.get(name))
        if found is not None:
            return found
    return None


def _count(span: Span, name: str) -> int:
    value = span.attributes.get(name)
    if value is None:
        return 0  # usage is "Recommended", not required: a call without it counts no tokens
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValidationError(f"{name} must be an integer, got {value!r:.60}")
    return int(value)


def _json_object(value: Any, name: str) -> str:
    if value is None:
        return "{}"  # arguments are opt-in content: without them the call's params are empty
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError) as exc:
            raise ValidationError(f"{name} must be a JSON object, got unparsable text {value[:60]!r}") from exc
        if isinstance(parsed, dict):
            return value
    raise ValidationError(f"{name} must be a JSON object, got {value!r:.60}")


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except (ValueError, RecursionError):
            return json.dumps(value)  # a plain-text result is a JSON string
    return json.dumps(value)


def split_tool(name: str, aliases: Mapping[str, str]) -> tuple[str, str]:
    """Warden names a call tool + action (policies read "tool.action"): "crm.lookup" or "crm__lookup"
    (function names may not hold dots at most providers); a bare name is action "call" of that tool."""
    name = aliases.get(name, name)
    for separator in (".", "__"):
        tool, found, action = name.partition(separator)
        if found and tool and action:
            return tool, action
    return name, "call"


@dataclass(frozen=True)
class Identity:
    tenant_id: str
    workflow: str
    agent_id: str
    user_id: str | None


def identity_of(agent: Span) -> Identity | str:
    """Who the run belongs to, or why that cannot be said."""
    tenant = _first(agent, sc.TENANT)
    workflow = _first(agent, sc.WORKFLOW)
    missing = [name for name, value in ((sc.TENANT, tenant), (sc.WORKFLOW, workflow)) if value is None]
    if missing:
        names = " and ".join(missing)
        return (f"the run of invoke_agent span {agent.name!r} (trace {agent.trace_id}) has no {names}: set the "
                f"resource attribute (OTEL_RESOURCE_ATTRIBUTES={sc.TENANT}=acme,{sc.WORKFLOW}=refund_ticket) "
                "or the same attribute on the invoke_agent span")
    assert tenant is not None and workflow is not None
    agent_id = (_first(agent, sc.AGENT_ID, sc.AGENT_NAME, resource=False) or _text(agent.resource.get(sc.SERVICE_NAME))
                or "agent")
    user = _first(agent, sc.WARDEN_USER) or _first(agent, sc.USER_ID, sc.ENDUSER_ID_DEPRECATED, resource=False)
    return Identity(tenant, workflow, agent_id, user)


# One event of a run before its step is known: (time, order within the same instant, span id, type, body).
Item = tuple[int, int, str, EventType, dict[str, Any], Span]


def child_items(span: Span, aliases: Mapping[str, str]) -> list[Item]:
    """A chat span is one llm_call (at its end); an execute_tool span a request (start) and a completion (end)."""
    attrs = span.attributes
    end = span.end_ns or span.start_ns
    latency_ms = max(0, end - span.start_ns) / 1e6
    if attrs.get(sc.OPERATION) in sc.INFERENCE:
        # the model asked for first: what the price table and rollouts name ("gpt-4o-mini", not its dated snapshot)
        body = {"model": _first(span, sc.REQUEST_MODEL, sc.RESPONSE_MODEL, resource=False) or "unknown",
                "provider": _first(span, sc.PROVIDER, sc.SYSTEM_DEPRECATED, resource=False) or "unknown",
                "input_tokens": _count(span, sc.INPUT_TOKENS), "output_tokens": _count(span, sc.OUTPUT_TOKENS),
                "cached_tokens": _count(span, sc.CACHE_READ_TOKENS), "latency_ms": latency_ms}
        return [(end, 1, span.span_id, EventType.LLM_CALL, body, span)]
    name = _text(attrs.get(sc.TOOL_NAME))
    if name is None:
        raise ValidationError(f"execute_tool span {span.name!r} has no {sc.TOOL_NAME} (Required in semconv "
                              f"{sc.SEMCONV_VERSION})")
    tool, action = split_tool(name, aliases)
    call_id = _text(attrs.get(sc.TOOL_CALL_ID)) or span.span_id
    failed = span.status_code == sc.STATUS_ERROR
    requested = {"call_id": call_id, "tool": tool, "action": action,
                 "params": _json_object(attrs.get(sc.TOOL_ARGUMENTS), sc.TOOL_ARGUMENTS)}
    completed = {"call_id": call_id, "tool": tool, "status": ToolStatus.ERROR if failed else ToolStatus.OK,
                 "error_code": (_text(attrs.get(sc.ERROR_TYPE)) or span.status_message[:200] or "error")
                 if failed else None,
                 "latency_ms": latency_ms, "output": None if failed else _json_text(attrs.get(sc.TOOL_RESULT))}
    return [(span.start_ns, 0, span.span_id, EventType.TOOL_CALL_REQUESTED, requested, span),
            (end, 2, span.span_id, EventType.TOOL_CALL_COMPLETED, completed, span)]


def _event(item: Item, base: dict[str, Any], step: int) -> AgentEvent:
    at, _, _, event_type, body, span = item
    return validate(AgentEvent, {**base, "event_id": event_id(span, event_type), "event_type": event_type,
                                 "occurred_at": _at(at), "step": step, "body": body})


def build_run(agent: Span, who: Identity, children: list[Span],
              config: Config) -> tuple[list[AgentEvent], list[Refusal]]:
    """The run's events, in step order, and the children refused (their events would break the contract)."""
    run_id = run_id_of(agent)
    base = {"tenant_id": who.tenant_id, "workflow": who.workflow, "run_id": run_id, "agent_id": who.agent_id,
            "user_id": who.user_id}
    refusals: list[Refusal] = []
    items: list[Item] = []
    for child in sorted(children, key=lambda s: (s.start_ns, s.span_id)):
        try:
            made = child_items(child, config.tool_aliases)
            for item in made:
                _event(item, base, 1)  # each event validated alone, so one bad call does not sink the run
        except ValidationError as exc:
            refusals.append(Refusal(child, Reason.INVALID, str(exc), run_id))
            continue
        items.extend(made)
    items.sort(key=lambda i: (i[0], i[1], i[2]))
    models = [i[4].get("model") for i in items if i[3] == EventType.LLM_CALL]
    model = _first(agent, sc.REQUEST_MODEL, resource=False) or next((m for m in models if m), None) or "unknown"
    started = {"workflow_version": _first(agent, sc.WORKFLOW_VERSION) or _first(agent, sc.AGENT_VERSION, resource=False)
               or _text(agent.resource.get(sc.SERVICE_VERSION)) or "unversioned",
               "prompt_version": _first(agent, sc.PROMPT_VERSION) or "unversioned", "model": model,
               "release": _first(agent, sc.RELEASE)}
    status = RunStatus.FAILED if agent.status_code == sc.STATUS_ERROR else RunStatus.SUCCEEDED
    first: Item = (agent.start_ns, -1, agent.span_id, EventType.RUN_STARTED, started, agent)
    last: Item = (agent.end_ns or agent.start_ns, 3, agent.span_id, EventType.RUN_COMPLETED,
                  {"status": status}, agent)
    ordered = [first, *items, last]
    events = [_event(item, base, step) for step, item in enumerate(ordered, start=1)]
    return events, refusals


class _Ancestry:
    """The state's links with this export's on top (read-only: plan does not change the state)."""

    def __init__(self, state: IngestState, batch: dict[tuple[str, str], str | None],
                 agents: dict[tuple[str, str], bool]) -> None:
        self.state, self.batch, self.agents = state, batch, agents

    def agent(self, trace: str, span: str) -> bool | None:
        if (trace, span) in self.agents:
            return self.agents[(trace, span)]
        book = self.state.traces.get(trace)
        return book.agents.get(span) if book is not None else None

    def parent(self, trace: str, span: str) -> tuple[bool, str | None]:
        if (trace, span) in self.batch:
            return True, self.batch[(trace, span)]
        book = self.state.traces.get(trace)
        if book is not None and span in book.parents:
            return True, book.parents[span]
        return False, None

    def owner(self, span: Span) -> tuple[str, str | None]:
        """("agent", id) for the nearest invoke_agent ancestor, ("root", None) when the known ancestry ends
        without one, ("unknown", None) while an ancestor has not arrived."""
        node = span.parent_span_id
        for _ in range(MAX_DEPTH):
            if node is None:
                return "root", None
            if self.agent(span.trace_id, node) is not None:
                return "agent", node
            known, parent = self.parent(span.trace_id, node)
            if not known:
                return "unknown", None
            node = parent
        return "root", None  # a cycle or an absurd depth: no agent will ever be found


def plan(state: IngestState, spans: Iterable[Span], now: float, config: Config) -> Plan:
    out = Plan()
    change = out.change
    batch: dict[tuple[str, str], str | None] = {}
    agents: dict[tuple[str, str], Span] = {}
    children: list[Span] = []
    for span in spans:
        batch[(span.trace_id, span.span_id)] = span.parent_span_id
        change.links.append((span.trace_id, span.span_id, span.parent_span_id))
        if span.key in state.done or span.key in state.pending:
            out.duplicates += 1
            continue
        operation = _text(span.attributes.get(sc.OPERATION))
        if operation == sc.INVOKE_AGENT:
            agents[(span.trace_id, span.span_id)] = span
        elif operation in sc.INFERENCE or operation == sc.EXECUTE_TOOL:
            children.append(span)
        elif operation is None:
            out.refusals.append(Refusal(span, Reason.NOT_GENAI, f"span {span.name!r} has no {sc.OPERATION}: not a "
                                        f"GenAI span (semantic conventions {sc.SEMCONV_VERSION})"))
        else:
            out.refusals.append(Refusal(span, Reason.UNSUPPORTED_OPERATION, f"{sc.OPERATION} {operation!r} maps to "
                                        "no AgentEvent; mapped: invoke_agent, chat, generate_content, "
                                        "text_completion, execute_tool"))
    identities: dict[tuple[str, str], Identity] = {}
    verdicts: dict[tuple[str, str], bool] = {}
    for where, agent in agents.items():
        who = identity_of(agent)
        if isinstance(who, str):
            out.refusals.append(Refusal(agent, Reason.NO_TENANT, who, run_id_of(agent)))
            verdicts[where] = False
        else:
            identities[where] = who
            verdicts[where] = True
    ancestry = _Ancestry(state, batch, verdicts)
    attached: dict[tuple[str, str], list[Span]] = {where: [] for where in identities}
    waiting = [(p.span, True) for p in state.pending.values()] + [(c, False) for c in children]
    for child, was_pending in waiting:
        kind, owner = ancestry.owner(child)
        if kind == "unknown":
            if not was_pending:
                change.pending_add[child.key] = Pending(child, now)
                out.pending += 1
            continue
        if was_pending:
            change.pending_remove.add(child.key)
        where = (child.trace_id, owner or "")
        if kind == "root":
            out.refusals.append(Refusal(child, Reason.NO_AGENT, f"span {child.name!r} is not inside an invoke_agent "
                                        "span: Warden maps calls to the agent run (invoke_agent) they belong to"))
        elif where in attached:
            attached[where].append(child)
        elif verdicts.get(where) is False or ancestry.agent(*where) is False:
            out.refusals.append(Refusal(child, Reason.NO_TENANT, f"its run (invoke_agent span {owner}) was refused: "
                                        "no tenant or workflow", f"otel-{child.trace_id}-{owner}"))
        else:
            out.refusals.append(Refusal(child, Reason.LATE, f"span {child.name!r} arrived after its run "
                                        f"otel-{child.trace_id}-{owner} was made from its invoke_agent span",
                                        f"otel-{child.trace_id}-{owner}"))
    for where, who in identities.items():
        agent = agents[where]
        try:
            events, refused = build_run(agent, who, attached[where], config)
        except ValidationError as exc:
            refused_all = [agent, *attached[where]]
            out.refusals.extend(Refusal(s, Reason.INVALID, f"its run is not a valid AgentEvent: {exc}",
                                        run_id_of(agent)) for s in refused_all)
            change.agents[where] = False
            continue
        out.events.extend(events)
        out.refusals.extend(refused)
        out.runs += 1
        change.agents[where] = True
        change.done.extend(s.key for s in [agent, *attached[where]])
    for where, verdict in verdicts.items():
        change.agents.setdefault(where, verdict)
    change.done.extend(r.span.key for r in out.refusals)
    return out


def plan_tick(state: IngestState, now: float, config: Config) -> Plan:
    """Children whose run did not arrive within ``pending_timeout_s`` are refused."""
    out = Plan()
    for key, waiting in state.pending.items():
        if now - waiting.since >= config.pending_timeout_s:
            span = waiting.span
            out.refusals.append(Refusal(span, Reason.PENDING_TIMEOUT, (
                f"span {span.name!r} waited {config.pending_timeout_s:g} s for its invoke_agent span, which never "
                f"arrived (its parent {span.parent_span_id} is unknown): export the agent span too")))
            out.change.pending_remove.add(key)
            out.change.done.append(key)
    return out


def apply(state: IngestState, change: Change, now: float, config: Config) -> IngestState:
    """The plan's change, once its records are with the broker; forgets traces quiet for ``trace_ttl_s``."""
    for trace, span, parent in change.links:
        book = state.traces.get(trace)
        if book is None:
            book = state.traces[trace] = Trace()
        book.parents[span] = parent
        book.touched = now
    for (trace, span), made in change.agents.items():
        state.traces.setdefault(trace, Trace(touched=now)).agents[span] = made
    for key in change.pending_remove:
        state.pending.pop(key, None)
    state.pending.update(change.pending_add)
    for key in change.done:
        state.done.first_time(key)
    waiting = {p.span.trace_id for p in state.pending.values()}
    for trace in [t for t, b in state.traces.items() if now - b.touched > config.trace_ttl_s and t not in waiting]:
        del state.traces[trace]
    return state


def dump(state: IngestState) -> dict[str, Any]:
    """JSON for a snapshot: what a restarted receiver needs to attribute late spans and dedupe re-sends."""
    return {"traces": {t: {"parents": b.parents, "agents": b.agents, "touched": b.touched}
                       for t, b in state.traces.items()},
            "pending": [{"span": p.span.model_dump(mode="json"), "since": p.since} for p in state.pending.values()],
            "done": state.done.to_json()}


def restore(data: Any, config: Config) -> IngestState:
    state = IngestState(done=SeenIds.from_json(data.get("done"), config.done_capacity))
    for trace, book in data.get("traces", {}).items():
        state.traces[trace] = Trace(dict(book["parents"]), {k: bool(v) for k, v in book["agents"].items()},
                                    float(book["touched"]))
    for item in data.get("pending", []):
        span = Span.model_validate(item["span"])
        state.pending[span.key] = Pending(span, float(item["since"]))
    return state
