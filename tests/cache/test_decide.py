"""The cache's decisions over a run's events: what is stored, what is refused and why."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.alerting.events import at, completed, event, requested
from warden.cache.decide import DeciderState, Verdict, finish, step
from warden.cache.rules import CacheRules, WorkflowCache
from warden.core.events import AgentEvent

RULES = CacheRules.load()


def offer(t: float, key: str = "k1", run: str = "run-1", workflow: str = "refund_ticket", **body: Any) -> AgentEvent:
    return event("llm_call", {"model": "gpt-4o", "provider": "openai", "input_tokens": 900, "output_tokens": 60,
                              "latency_ms": 5.0, "cache_key": key, **body}, t, run=run, workflow=workflow)


def decide(events: list[AgentEvent], rules: CacheRules = RULES) -> list[tuple[str, str, str]]:
    state = DeciderState()
    out = []
    for e in events:
        out += [(d.cache_key, d.decision.value, d.reason) for d in step(state, rules, e)]
    return out


def test_the_rules_come_from_the_workflows_file_and_the_tool_inventory() -> None:
    assert RULES.for_workflow("refund_ticket") == WorkflowCache(True, 3600.0)
    assert not RULES.for_workflow("provision_access").enabled  # workflows.toml: cache = false
    assert not RULES.for_workflow("a_workflow_nobody_named").enabled
    assert not RULES.side_effect("crm", "lookup")  # inventory: read_only: true
    assert RULES.side_effect("payments", "refund") and RULES.side_effect("email", "send")
    assert RULES.side_effect("unknown", "tool")  # not in the inventory: assumed to act


def test_an_answer_followed_by_another_model_call_is_stored_with_the_workflows_ttl() -> None:
    state = DeciderState()
    assert step(state, RULES, offer(0)) == []  # waits: what did it lead to?
    (stored,) = step(state, RULES, event("llm_call", {"model": "gpt-4o", "provider": "openai", "input_tokens": 1,
                                                      "output_tokens": 1, "latency_ms": 1.0}, 5))
    assert (stored.decision, stored.reason, stored.cache_key) == (Verdict.STORED, "", "k1")
    assert stored.answered_at == at(0) and stored.decided_at == at(5)
    assert stored.expires_at == at(0) + timedelta(hours=1)


def test_an_answer_of_a_run_that_succeeds_is_stored() -> None:
    assert decide([offer(0), completed(3, "succeeded")]) == [("k1", "stored", "")]


@pytest.mark.parametrize("status", ["failed", "escalated", "aborted"])
def test_an_answer_of_a_run_that_does_not_succeed_is_refused(status: str) -> None:
    assert decide([offer(0), completed(3, status)]) == [("k1", "refused", f"run_{status}")]


def test_an_answer_that_led_to_a_side_effecting_tool_call_is_refused() -> None:
    events = [offer(0), requested(1, "payments", "refund", "c-1"), completed(3, "succeeded")]
    assert decide(events) == [("k1", "refused", "side_effect:payments.refund")]


def test_a_read_only_tool_call_leaves_the_answer_cacheable() -> None:
    events = [offer(0), requested(1, "crm", "lookup", "c-1"), completed(3, "succeeded")]
    assert decide(events) == [("k1", "stored", "")]


def test_pii_recorded_on_the_call_is_refused_at_once() -> None:
    assert decide([offer(0, cache_pii="email,phone")]) == [("k1", "refused", "pii:email,phone")]


def test_a_workflow_that_disables_caching_is_refused_at_once() -> None:
    assert decide([offer(0, workflow="provision_access")]) == [("k1", "refused", "workflow_disabled")]


def test_a_hit_is_a_decision_and_settles_the_answer_before_it() -> None:
    hit = offer(2, key="k2", cache_hit=True, input_tokens=0, output_tokens=0, saved_input_tokens=900)
    assert decide([offer(0), hit]) == [("k1", "stored", ""), ("k2", "hit", "")]


def test_a_call_outside_the_cache_is_not_decided_on() -> None:
    plain = event("llm_call", {"model": "gpt-4o", "provider": "openai", "input_tokens": 1, "output_tokens": 1,
                               "latency_ms": 1.0}, 0)
    assert decide([plain, completed(1, "succeeded")]) == []


def test_runs_decide_apart() -> None:
    events = [offer(0, "ka", run="a"), offer(0, "kb", run="b"), requested(1, "email", "send", "c", run="b"),
              completed(2, "succeeded", run="a"), completed(2, "succeeded", run="b")]
    assert decide(events) == [("kb", "refused", "side_effect:email.send"), ("ka", "stored", "")]


def test_past_its_capacity_the_oldest_runs_answer_is_refused_and_an_open_run_at_the_end_too() -> None:
    state = DeciderState(capacity=1)
    assert step(state, RULES, offer(0, "ka", run="a")) == []
    (forgotten,) = step(state, RULES, offer(1, "kb", run="b"))
    assert (forgotten.run_id, forgotten.reason) == ("a", "run_forgotten")
    (left,) = finish(state, at(9), RULES)
    assert (left.run_id, left.decision, left.reason) == ("b", Verdict.REFUSED, "run_not_completed")
