"""The pure OTLP mapping: runs from invoke_agent spans, calls attached by ancestry, refusals with reasons."""

from __future__ import annotations

import json
from typing import Any

from warden.core.events import EventType, LlmCall, RunCompleted, RunStarted, ToolCallCompleted, ToolCallRequested
from warden.otlp_ingest import processor
from warden.otlp_ingest.processor import Config, IngestState, Reason, apply, plan, plan_tick
from warden.otlp_ingest.spans import Span

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
RESOURCE = {"service.name": "refund-bot", "warden.tenant_id": "acme", "warden.workflow": "refund_ticket"}
T0 = 1_764_000_000_000_000_000  # ns
MS = 1_000_000


def span(span_id: str, parent: str | None, operation: str | None, start_ms: int, end_ms: int,
         resource: dict[str, Any] | None = None, status: int = 0, trace: str = TRACE, **attrs: Any) -> Span:
    attributes = {**({"gen_ai.operation.name": operation} if operation else {}), **attrs}
    return Span(trace_id=trace, span_id=span_id, parent_span_id=parent, name=f"{operation} x",
                start_ns=T0 + start_ms * MS, end_ns=T0 + end_ms * MS, status_code=status, attributes=attributes,
                resource=RESOURCE if resource is None else resource)


AGENT = "a000000000000001"


def agent(start: int = 0, end: int = 100, /, **kw: Any) -> Span:
    return span(AGENT, None, "invoke_agent", start, end, **{"gen_ai.agent.name": "refunds", **kw})


def chat(span_id: str, start: int, end: int, /, parent: str = AGENT, **kw: Any) -> Span:
    return span(span_id, parent, "chat", start, end, **{
        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30, **kw})


def tool(span_id: str, start: int, end: int, /, parent: str = AGENT, **kw: Any) -> Span:
    return span(span_id, parent, "execute_tool", start, end, **{
        "gen_ai.tool.name": "payments__refund", "gen_ai.tool.call.id": f"call_{span_id}",
        "gen_ai.tool.call.arguments": '{"order_id": "o-1", "amount_usd": 42.5}',
        "gen_ai.tool.call.result": '{"refund_id": "r-9", "status": "pending", "amount_usd": 42.5}', **kw})


def run(spans: list[Span], state: IngestState | None = None, now: float = 1000.0,
        config: Config = Config()) -> tuple[IngestState, processor.Plan]:
    state = state or IngestState()
    made = plan(state, spans, now, config)
    return apply(state, made.change, now, config), made


def test_one_run_in_step_order_with_usage_and_tool_call() -> None:
    _, made = run([chat("c000000000000001", 5, 20), tool("b000000000000001", 22, 30),
                   chat("c000000000000002", 31, 60), agent()])
    assert made.runs == 1 and not made.refusals
    kinds = [e.event_type for e in made.events]
    assert kinds == [EventType.RUN_STARTED, EventType.LLM_CALL, EventType.TOOL_CALL_REQUESTED,
                     EventType.TOOL_CALL_COMPLETED, EventType.LLM_CALL, EventType.RUN_COMPLETED]
    assert [e.step for e in made.events] == [1, 2, 3, 4, 5, 6]
    first = made.events[0]
    assert first.run_id == f"otel-{TRACE}-{AGENT}" and first.tenant_id == "acme" and first.workflow == "refund_ticket"
    assert first.agent_id == "refunds"
    assert isinstance(first.body, RunStarted) and first.body.model == "gpt-4o-mini"
    llm = made.events[1].body
    assert isinstance(llm, LlmCall)
    assert (llm.model, llm.provider, llm.input_tokens, llm.output_tokens, llm.latency_ms) == (
        "gpt-4o-mini", "openai", 120, 30, 15.0)
    requested, completed = made.events[2].body, made.events[3].body
    assert isinstance(requested, ToolCallRequested) and isinstance(completed, ToolCallCompleted)
    assert (requested.tool, requested.action, requested.call_id) == ("payments", "refund", "call_b000000000000001")
    assert requested.params_dict() == {"order_id": "o-1", "amount_usd": 42.5}
    assert completed.status.value == "ok" and json.loads(completed.output or "null")["refund_id"] == "r-9"
    last = made.events[-1].body
    assert isinstance(last, RunCompleted) and last.status.value == "succeeded"
    assert made.events[-1].occurred_at > made.events[0].occurred_at


def test_event_ids_are_deterministic_and_a_resent_export_adds_nothing() -> None:
    spans = [chat("c000000000000001", 5, 20), agent()]
    state, first = run(spans)
    _, again = run(spans)  # a fresh receiver maps the same ids
    assert [e.event_id for e in first.events] == [e.event_id for e in again.events]
    state, resent = run(spans, state)
    assert resent.events == [] and resent.refusals == [] and resent.duplicates == 2


def test_children_wait_for_their_agent_in_a_later_export() -> None:
    state, early = run([chat("c000000000000001", 5, 20), tool("b000000000000001", 22, 30)])
    assert early.events == [] and early.refusals == [] and early.pending == 2
    state, later = run([agent()], state)
    assert [e.event_type for e in later.events][1:4] == [EventType.LLM_CALL, EventType.TOOL_CALL_REQUESTED,
                                                         EventType.TOOL_CALL_COMPLETED]
    assert state.pending == {}


def test_nearest_agent_owns_a_call_through_intermediate_spans() -> None:
    inner = "a000000000000002"
    spans = [span("d000000000000001", AGENT, None, 1, 90),  # e.g. a framework's "running tools" span
             tool("b000000000000001", 2, 80, parent="d000000000000001"),
             span(inner, "b000000000000001", "invoke_agent", 3, 70),  # a sub-agent the tool delegates to
             chat("c000000000000001", 4, 10, parent=inner), agent()]
    _, made = run(spans)
    by_run: dict[str, list[EventType]] = {}
    for event in made.events:
        by_run.setdefault(event.run_id, []).append(event.event_type)
    assert by_run[f"otel-{TRACE}-{inner}"] == [EventType.RUN_STARTED, EventType.LLM_CALL, EventType.RUN_COMPLETED]
    assert EventType.TOOL_CALL_REQUESTED in by_run[f"otel-{TRACE}-{AGENT}"]
    assert [r.reason for r in made.refusals] == [Reason.NOT_GENAI]  # the intermediate span itself


def test_a_run_without_tenant_or_workflow_is_refused_with_its_calls() -> None:
    bare = {"service.name": "refund-bot"}
    _, made = run([chat("c000000000000001", 5, 20), span(AGENT, None, "invoke_agent", 0, 100, resource=bare)])
    assert made.events == []
    assert {r.reason for r in made.refusals} == {Reason.NO_TENANT}
    assert len(made.refusals) == 2
    assert "warden.tenant_id and warden.workflow" in made.refusals[0].detail


def test_tenant_on_the_agent_span_wins_over_the_resource() -> None:
    span_tenant: dict[str, Any] = {"warden.tenant_id": "globex"}
    _, made = run([agent(**span_tenant)])
    assert {e.tenant_id for e in made.events} == {"globex"}


def test_failed_agent_and_tool_spans_map_to_failed_and_error() -> None:
    _, made = run([tool("b000000000000001", 2, 8, status=2, **{"error.type": "TimeoutError"}),
                   agent(status=2)])
    completed = next(e.body for e in made.events if isinstance(e.body, ToolCallCompleted))
    assert completed.status.value == "error" and completed.error_code == "TimeoutError" and completed.output is None
    assert isinstance(made.events[-1].body, RunCompleted) and made.events[-1].body.status.value == "failed"


def test_unmapped_spans_are_refused_with_the_reason_and_the_run_goes_on() -> None:
    not_an_object: dict[str, Any] = {"gen_ai.tool.call.arguments": "[1, 2]"}
    no_name: dict[str, Any] = {"gen_ai.tool.name": None}
    negative: dict[str, Any] = {"gen_ai.usage.input_tokens": -3}
    spans = [span("e000000000000001", AGENT, "embeddings", 1, 2),
             span("e000000000000002", None, None, 1, 2),
             chat("c000000000000009", 1, 2, parent=""),  # a root chat span: no agent will come
             tool("b000000000000001", 3, 4, **not_an_object),
             tool("b000000000000002", 5, 6, **no_name),
             chat("c000000000000001", 7, 9, **negative),
             agent()]
    spans[2] = spans[2].model_copy(update={"parent_span_id": None})
    _, made = run(spans)
    reasons = {r.span.span_id: r.reason for r in made.refusals}
    assert reasons == {"e000000000000001": Reason.UNSUPPORTED_OPERATION, "e000000000000002": Reason.NOT_GENAI,
                       "c000000000000009": Reason.NO_AGENT, "b000000000000001": Reason.INVALID,
                       "b000000000000002": Reason.INVALID, "c000000000000001": Reason.INVALID}
    assert [e.event_type for e in made.events] == [EventType.RUN_STARTED, EventType.RUN_COMPLETED]
    assert [e.step for e in made.events] == [1, 2]
    details = {r.span.span_id: r.detail for r in made.refusals}
    assert "must be a JSON object" in details["b000000000000001"]
    assert "gen_ai.tool.name" in details["b000000000000002"]


def test_a_child_after_its_run_is_late_and_an_orphan_times_out() -> None:
    state, _ = run([agent()])
    state, late = run([chat("c000000000000001", 5, 20)], state)
    assert [r.reason for r in late.refusals] == [Reason.LATE]
    state, waiting = run([chat("c000000000000002", 5, 20, parent="ffffffffffffffff")], state, now=1000.0)
    assert waiting.pending == 1
    config = Config(pending_timeout_s=30)
    assert plan_tick(state, 1020.0, config).refusals == []
    timed_out = plan_tick(state, 1031.0, config)
    assert [r.reason for r in timed_out.refusals] == [Reason.PENDING_TIMEOUT]
    state = apply(state, timed_out.change, 1031.0, config)
    assert state.pending == {}


def test_plan_does_not_change_the_state_until_applied() -> None:
    state = IngestState()
    made = plan(state, [chat("c000000000000001", 5, 20), agent()], 1000.0, Config())
    assert state.traces == {} and len(state.done) == 0  # e.g. the broker refused the records: a retry maps again
    again = plan(state, [chat("c000000000000001", 5, 20), agent()], 1001.0, Config())
    assert [e.event_id for e in again.events] == [e.event_id for e in made.events]


def test_tool_names_and_aliases() -> None:
    assert processor.split_tool("crm.lookup", {}) == ("crm", "lookup")
    assert processor.split_tool("crm__lookup", {}) == ("crm", "lookup")
    assert processor.split_tool("lookup_order", {}) == ("lookup_order", "call")
    assert processor.split_tool("lookup_order", {"lookup_order": "crm.lookup"}) == ("crm", "lookup")


def test_state_survives_a_snapshot_round_trip() -> None:
    state, _ = run([chat("c000000000000002", 5, 20, parent="ffffffffffffffff"), agent()])
    restored = processor.restore(json.loads(json.dumps(processor.dump(state))), Config())
    assert restored.pending.keys() == state.pending.keys() and list(restored.done) == list(state.done)
    assert restored.traces[TRACE].agents == {AGENT: True}
    _, resent = run([agent()], restored)
    assert resent.duplicates == 1 and resent.events == []
