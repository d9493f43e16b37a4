"""The SDK cache: hits recorded on the llm_call, answers stored only when safe, per tenant, shared through
Redis by replicas; and the same decisions from `warden replay` as the SDK took live."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import redis_url  # noqa: F401 - the session's real redis-server
from tests.sdk.test_client import read_back
from warden.cache.backends import MemoryBackend, RedisBackend
from warden.cache.decide import CacheDecision
from warden.core.events import AgentEvent, LlmCall
from warden.core.settings import WardenSettings
from warden.replay.runner import replay
from warden.sdk import Run, WardenClient
from warden.sdk.cache import AnswerCache
from warden.sdk.gate import DecisionWatcher, GateVerdict

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PROMPT = "What is   the refund window for order o-1?"


class Recorder:
    """A RunClient that keeps what it is given (the eval runner's kind of client), with its own cache."""

    def __init__(self, cache: AnswerCache) -> None:
        self.cache, self.events, self.decisions = cache, list[AgentEvent](), list[CacheDecision]()
        cache.on_decision = self.decisions.append

    def emit(self, event: AgentEvent) -> None:
        self.events.append(event)

    def flush(self, timeout_s: float | None = None) -> None:
        return None

    def gate(self) -> DecisionWatcher:
        raise NotImplementedError

    def authorize(self, call_id: str, timeout_s: float = 10.0, approval_timeout_s: float = 900.0,
                  risk_timeout_s: float = 2.0, risk_required: bool = False) -> GateVerdict:
        raise NotImplementedError


def client(backend: Any = None) -> Recorder:
    return Recorder(AnswerCache(backend or MemoryBackend()))


def answer(run: Run, at: datetime, output: Any = "30 days from delivery", prompt: str = PROMPT) -> AgentEvent:
    return run.cache.record("gpt-4o", "openai", prompt, output, 900, 60, latency_ms=700.0, at=at)


def body(event: AgentEvent) -> LlmCall:
    assert isinstance(event.body, LlmCall)
    return event.body


def test_a_repeated_question_is_served_from_the_cache_and_the_hit_records_what_it_saved() -> None:
    c = client()
    first = Run(c, "acme", "refund_ticket", "agent-1", "run-1", None)
    assert first.cache.lookup("gpt-4o", PROMPT, at=T0) is None
    offered = answer(first, T0)
    assert body(offered).cache_key is not None and not body(offered).cache_hit
    first.completed("succeeded", at=T0 + timedelta(seconds=2))

    second = Run(c, "acme", "refund_ticket", "agent-1", "run-2", None)
    hit = second.cache.lookup("gpt-4o", "What is the refund window for order o-1?", at=T0 + timedelta(minutes=5))
    assert hit is not None and hit.output == "30 days from delivery"
    recorded = body(hit.event)
    assert (recorded.cache_hit, recorded.input_tokens, recorded.output_tokens, recorded.cost_usd) == (True, 0, 0, 0.0)
    assert (recorded.saved_input_tokens, recorded.saved_output_tokens) == (900, 60)
    assert recorded.cache_key == body(offered).cache_key and hit.event.step == 1
    assert [d.decision.value for d in c.decisions] == ["stored", "hit"]
    assert c.cache.stats["misses"] == 1 and c.cache.stats["hit"] == 1


def test_no_tenant_is_served_another_tenants_answer() -> None:
    c = client()
    run = Run(c, "acme", "refund_ticket", "agent-1", "run-1", None)
    answer(run, T0)
    run.completed("succeeded", at=T0)
    other = Run(c, "globex", "refund_ticket", "agent-1", "run-2", None)
    assert other.cache.lookup("gpt-4o", PROMPT, at=T0) is None


def test_an_answer_past_the_workflows_ttl_is_not_served() -> None:
    c = client()
    run = Run(c, "acme", "refund_ticket", "agent-1", "run-1", None)
    answer(run, T0)
    run.completed("succeeded", at=T0)
    later = Run(c, "acme", "refund_ticket", "agent-1", "run-2", None)
    assert later.cache.lookup("gpt-4o", PROMPT, at=T0 + timedelta(seconds=3599)) is not None
    assert later.cache.lookup("gpt-4o", PROMPT, at=T0 + timedelta(seconds=3600)) is None


@pytest.mark.parametrize(("prompt", "output", "kinds"), [
    ("Write to jane.doe@example.com about her refund", "Done", "email"),
    (PROMPT, {"reply": "card 4111 1111 1111 1111 refunded"}, "card"),
])
def test_pii_in_the_input_or_the_output_is_never_cached(prompt: str, output: Any, kinds: str) -> None:
    c = client()
    run = Run(c, "acme", "refund_ticket", "agent-1", "run-1", None)
    event = answer(run, T0, output, prompt)
    run.completed("succeeded", at=T0)
    assert body(event).cache_pii == kinds
    assert "example.com" not in event.model_dump_json() and "4111" not in event.model_dump_json()
    assert [(d.decision.value, d.reason) for d in c.decisions] == [("refused", f"pii:{kinds}")]
    assert Run(c, "acme", "refund_ticket", "agent-1", "run-2", None).cache.lookup("gpt-4o", prompt, at=T0) is None


def test_an_answer_that_led_to_a_side_effecting_tool_call_is_not_cached() -> None:
    c = client()
    run = Run(c, "acme", "refund_ticket", "agent-1", "run-1", None)
    answer(run, T0, "refund o-1 for $20")
    run.tool_call_requested("payments", "refund", {"order_id": "o-1", "amount_usd": 20.0}, at=T0)
    run.completed("succeeded", at=T0)
    assert [(d.decision.value, d.reason) for d in c.decisions] == [("refused", "side_effect:payments.refund")]
    assert Run(c, "acme", "refund_ticket", "agent-1", "run-2", None).cache.lookup("gpt-4o", PROMPT, at=T0) is None


def test_a_workflow_that_disables_the_cache_is_never_looked_up_nor_stored() -> None:
    c = client()
    run = Run(c, "acme", "provision_access", "agent-1", "run-1", None)
    assert run.cache.lookup("gpt-4o", PROMPT, at=T0) is None
    answer(run, T0)
    run.completed("succeeded", at=T0)
    assert c.cache.stats["disabled"] == 1 and c.cache.stats["misses"] == 0
    assert [(d.decision.value, d.reason) for d in c.decisions] == [("refused", "workflow_disabled")]


def test_embeddings_are_cached_apart_from_answers() -> None:
    c = client()
    run = Run(c, "acme", "refund_ticket", "agent-1", "run-1", None)
    run.cache.record("text-embedding-3-small", "openai", ["refund window"], [[0.1, 0.2]], 4, 0, 20.0,
                     kind="embedding", at=T0)
    run.completed("succeeded", at=T0)
    again = Run(c, "acme", "refund_ticket", "agent-1", "run-2", None)
    hit = again.cache.lookup("text-embedding-3-small", ["refund  window"], kind="embedding", at=T0)
    assert hit is not None and hit.output == [[0.1, 0.2]]
    assert again.cache.lookup("text-embedding-3-small", ["refund window"], at=T0) is None  # an answer: other key


def test_replicas_share_answers_through_redis_and_not_in_process(redis_url: str) -> None:  # noqa: F811
    prefix = "test:sdk-replicas:"
    one, two = client(RedisBackend(redis_url, prefix)), client(RedisBackend(redis_url, prefix))
    run = Run(one, "acme", "refund_ticket", "agent-1", "run-1", None)
    answer(run, T0)
    run.completed("succeeded", at=T0)
    hit = Run(two, "acme", "refund_ticket", "agent-2", "run-2", None).cache.lookup("gpt-4o", PROMPT, at=T0)
    assert hit is not None and hit.output == "30 days from delivery" and body(hit.event).saved_input_tokens == 900
    alone = client()
    assert Run(alone, "acme", "refund_ticket", "agent-3", "run-3", None).cache.lookup("gpt-4o", PROMPT, at=T0) is None


def test_a_store_that_is_down_is_a_miss_and_never_fails_the_agent() -> None:
    c = client(RedisBackend("redis://127.0.0.1:1/0", timeout_s=0.2))
    run = Run(c, "acme", "refund_ticket", "agent-1", "run-1", None)
    assert run.cache.lookup("gpt-4o", PROMPT, at=T0) is None
    answer(run, T0)
    run.completed("succeeded", at=T0)  # the store refuses the write: counted, the run goes on
    assert c.cache.stats["backend_errors"] == 2 and c.cache.stats["stored"] == 1


@pytest.mark.integration
def test_live_decisions_through_the_broker_equal_warden_replays(topics: WardenSettings, tmp_path: Path) -> None:
    """The SDK on the real broker decides what to store; `warden replay` over the events read back from the
    topic (Avro, the new fields included) writes the same decisions to cache.jsonl."""
    live: list[CacheDecision] = []
    with WardenClient(topics) as warden:
        warden.cache = AnswerCache(MemoryBackend(), on_decision=live.append)
        script: list[tuple[str, str, Any]] = [  # workflow, what the answer led to, its output
            ("refund_ticket", "succeeded", "30 days"), ("refund_ticket", "payments.refund", "refund it"),
            ("refund_ticket", "crm.lookup", "look them up"), ("provision_access", "succeeded", "grant viewer"),
            ("refund_ticket", "failed", "try again"), ("triage_ticket", "succeeded", "mail ann@example.org"),
            ("refund_ticket", "llm", "then ask"), ("refund_ticket", "hit", None)]
        for n, (workflow, then, output) in enumerate(script):
            at = T0 + timedelta(seconds=10 * n)
            with warden.run("acme", workflow, "agent-1", run_id=f"cache-run-{n}") as run:
                run.started("v1", "p1", "gpt-4o", at=at)
                if then == "hit":
                    assert run.cache.lookup("gpt-4o", "question 0", at=at) is not None
                    run.completed("succeeded", at=at)
                    continue
                run.cache.record("gpt-4o", "openai", f"question {n}", output, 900 + n, 60, 500.0, at=at)
                if "." in then:
                    tool, action = then.split(".")
                    params = {"order_id": "o-1", "amount_usd": 5.0} if tool == "payments" else {"customer_id": "c-1"}
                    run.tool_call_requested(tool, action, params, at=at)
                elif then == "llm":
                    run.llm_call("gpt-4o", "openai", 100, 10, 50.0, at=at)
                run.completed("failed" if then == "failed" else "succeeded", at=at + timedelta(seconds=1))
    events = [e for _, e in read_back(topics, 27)]
    assert len(events) == 27
    path = tmp_path / "events.jsonl"
    path.write_text("".join(e.model_dump_json() + "\n" for e in sorted(events, key=lambda e: (e.occurred_at, e.step))))
    replay(path, tmp_path / "out")
    offline = [CacheDecision.model_validate(json.loads(line))
               for line in (tmp_path / "out" / "cache.jsonl").read_text().splitlines()]
    assert [(d.decision.value, d.reason) for d in live] == [
        ("stored", ""), ("refused", "side_effect:payments.refund"), ("stored", ""), ("refused", "workflow_disabled"),
        ("refused", "run_failed"), ("refused", "pii:email"), ("stored", ""), ("hit", "")]
    assert offline == live
