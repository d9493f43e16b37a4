"""A Pydantic AI agent, instrumented as its users instrument it, exports through the real OpenTelemetry SDK
and OTLP/HTTP exporter to a live otlp-ingest; its run lands in the ledger (real ledger-sink, chDB) with the
live policy-evaluator's decisions. Offline: the agent's model is Pydantic AI's FunctionModel."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai import Agent
from pydantic_ai.capabilities import Instrumentation
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings

from tests.ledger_sink.helpers import sink_settings, wait_for
from tests.running import in_thread
from warden.broker.tansu import free_port
from warden.core.settings import WardenSettings
from warden.ledger.client import Ledger
from warden.ledger_sink.service import LedgerSink
from warden.otlp_ingest.service import run_service
from warden.otlp_ingest.settings import OtlpIngestSettings
from warden.policy_evaluator.service import PolicyEvaluator

pytestmark = pytest.mark.integration
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("crm__lookup", {"customer_id": "c-42"}),  # in the workflow's inventory: allowed
    ("payments__refund", {"order_id": "o-1", "amount_usd": 250.0}),  # over 100: a human must approve
    ("crm__delete_record", {"record_id": "c-42"}),  # not in refund_ticket's inventory: denied
]


@contextmanager
def receiver(topics: WardenSettings) -> Iterator[str]:
    settings = OtlpIngestSettings(**{**topics.model_dump(), "otlp_port": free_port()})
    stop = threading.Event()
    thread = threading.Thread(target=run_service, args=(settings, stop), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{settings.otlp_port}"
    try:
        wait_for(lambda: _healthy(base), 20, what="otlp-ingest to listen")
        yield base
    finally:
        stop.set()
        thread.join(30)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def refund_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """First turn: the three tool calls; once their results are back, the answer."""
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart(name, args, tool_call_id=f"call_{i}")
                                    for i, (name, args) in enumerate(CALLS)])
    return ModelResponse(parts=[TextPart("Refund of 250.00 USD requested for order o-1.")])


def build_agent(provider: TracerProvider) -> Agent[None, str]:
    agent = Agent(FunctionModel(refund_model, model_name="refund-model"), name="refund-bot",
                  capabilities=[Instrumentation(settings=InstrumentationSettings(tracer_provider=provider))])

    @agent.tool_plain
    def crm__lookup(customer_id: str) -> dict[str, str]:
        return {"customer_id": customer_id, "name": "Ada"}

    @agent.tool_plain
    def payments__refund(order_id: str, amount_usd: float) -> dict[str, Any]:
        return {"refund_id": "r-9", "status": "pending", "amount_usd": amount_usd}

    @agent.tool_plain
    def crm__delete_record(record_id: str) -> dict[str, Any]:
        return {"record_id": record_id, "deleted": True}

    return agent


def rows(ledger: Ledger, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in ledger.rows(sql.format(db=ledger.database), params)]


def test_a_pydantic_ai_run_lands_in_the_ledger_with_policy_decisions(
        topics: WardenSettings, ledger: Ledger, evaluator: PolicyEvaluator) -> None:
    with in_thread(LedgerSink(sink_settings(topics, ledger), ledger).start()), receiver(topics) as base:
        provider = TracerProvider(resource=Resource.create({
            "service.name": "refund-bot", "warden.tenant_id": "acme", "warden.workflow": "refund_ticket",
            "warden.workflow_version": "v3"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")))
        kept = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(kept))
        result = build_agent(provider).run_sync("Please refund order o-1 for customer c-42")
        assert "Refund" in result.output
        assert provider.force_flush(10_000)
        provider.shutdown()

        def events() -> list[tuple[Any, ...]]:
            return rows(ledger, "SELECT run_id, step, event_type, tool, action, input_tokens, status, params "
                                "FROM {db}.agent_events WHERE tenant_id = 'acme' ORDER BY step")

        def decisions() -> list[tuple[Any, ...]]:
            return rows(ledger, "SELECT call_id, decision, policy_ids FROM {db}.policy_decisions ORDER BY call_id")

        wait_for(lambda: len(events()) == 10 and len(decisions()) == 3, 30,
                 what="the run's 10 events and 3 policy decisions in the ledger")
        landed = events()
        run_ids = {r[0] for r in landed}
        assert len(run_ids) == 1 and next(iter(run_ids)).startswith("otel-")
        assert [r[1] for r in landed] == list(range(1, 11))
        kinds = [r[2] for r in landed]
        assert kinds[0] == "run_started" and kinds[-1] == "run_completed" and landed[-1][6] == "succeeded"
        assert kinds.count("llm_call") == 2 and kinds.count("tool_call_requested") == 3
        assert kinds.count("tool_call_completed") == 3
        assert all(r[5] > 0 for r in landed if r[2] == "llm_call")  # usage from gen_ai.usage.input_tokens
        requested = {(r[3], r[4]): json.loads(r[7]) for r in landed if r[2] == "tool_call_requested"}
        assert requested[("payments", "refund")] == {"order_id": "o-1", "amount_usd": 250.0}
        by_call = {call: (decision, list(ids)) for call, decision, ids in decisions()}
        assert by_call["call_0"][0] == "allow"
        assert by_call["call_1"] == ("require_approval", ["refund-over-100"])
        assert by_call["call_2"][0] == "deny" and "out-of-inventory" in by_call["call_2"][1]
        started = rows(ledger, "SELECT workflow, workflow_version, model, agent_id FROM {db}.agent_events "
                               "WHERE event_type = 'run_started'")
        assert started == [("refund_ticket", "v3", "refund-model", "refund-bot")]

        # An exporter that re-sends the export (its answer was lost) adds nothing: every span is a duplicate.
        spans = kept.get_finished_spans()
        assert OTLPSpanExporter(endpoint=f"{base}/v1/traces").export(spans) == SpanExportResult.SUCCESS
        metrics = httpx.get(f"{base}/metrics").text
        assert "warden_otlp_ingest_runs_ingested_total 1.0\n" in metrics
        assert "warden_otlp_ingest_events_produced_total 10.0\n" in metrics
        assert f"warden_otlp_ingest_spans_duplicate_total {float(len(spans))}\n" in metrics


def test_spans_without_a_tenant_are_refused_and_dead_lettered(topics: WardenSettings, ledger: Ledger) -> None:
    trace = uuid.uuid4().hex
    now = time.time_ns()
    export = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "refund-bot"}}]},
        "scopeSpans": [{"scope": {"name": "hand-made"}, "spans": [
            {"traceId": trace, "spanId": "00f067aa0ba902b7", "name": "invoke_agent refund-bot",
             "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 10**8),
             "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}}]},
            {"traceId": trace, "spanId": "00f067aa0ba902b8", "name": "GET /health",
             "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 10**6)}]}]}]}
    with in_thread(LedgerSink(sink_settings(topics, ledger), ledger).start()), receiver(topics) as base:
        answer = httpx.post(f"{base}/v1/traces", json=export)
        assert answer.status_code == 400
        assert "warden.tenant_id and warden.workflow" in answer.json()["message"]
        resent = httpx.post(f"{base}/v1/traces", json=export)  # the same export again: the same letters
        assert resent.status_code == 200 and resent.json() == {}  # already refused: nothing new

        def letters() -> list[tuple[Any, ...]]:
            return rows(ledger, "SELECT source_topic, source_key, service, reason FROM {db}.dead_letters "
                                "ORDER BY reason")

        wait_for(lambda: len(letters()) == 2, 30, what="two dead letters in the ledger")
        refused = letters()
        assert {r[0] for r in refused} == {"otlp/v1/traces"} and {r[2] for r in refused} == {"otlp-ingest"}
        assert refused[0][3].startswith("no_tenant: the run of invoke_agent span")
        assert refused[1][3].startswith("not_genai: span 'GET /health'")
        assert refused[0][1] == f"otel-{trace}-00f067aa0ba902b7"
        assert rows(ledger, "SELECT count() FROM {db}.agent_events") == [(0,)]
