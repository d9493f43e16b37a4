"""The context-growth rule: a run whose input tokens per llm_call keep growing with its steps."""

from __future__ import annotations

from dataclasses import replace

from tests.alerting.events import completed, event
from warden.alerting.book import AlertBook
from warden.alerting.config import AlertRules, Thresholds
from warden.alerting.context_growth import RULE, ContextState, context_growth
from warden.anomaly_alerter.processor import Alerter
from warden.core.events import AgentEvent
from warden.core.records import Alert, AlertKind, Severity

RULES = AlertRules()


def call(t: float, step: int, tokens: int, run: str = "run-1") -> AgentEvent:
    return event("llm_call", {"model": "gpt-4o", "provider": "openai", "input_tokens": tokens, "output_tokens": 50,
                              "latency_ms": 1.0}, t, run=run, step=step)


def stuffed(run: str = "run-1", calls: int = 6, base: int = 800, per_step: int = 600, every: int = 2,
            workflow: str = "refund_ticket") -> list[AgentEvent]:
    """A run that sends the whole transcript each call: every call `per_step` tokens per step longer."""
    return [event("llm_call", {"model": "gpt-4o", "provider": "openai", "input_tokens": base + per_step * every * i,
                               "output_tokens": 50, "latency_ms": 1.0}, i * 10.0, run=run, step=1 + every * i,
                  workflow=workflow) for i in range(calls)]


def feed(events: list[AgentEvent], rules: AlertRules = RULES) -> list[Alert]:
    state, book, out = ContextState(), AlertBook(rules.renotify_s), []
    for e in events:
        out += context_growth(state, book, rules, e)
    return out


def test_a_run_whose_input_grows_with_every_step_gets_a_ticket_naming_it_and_the_growth() -> None:
    alerts = feed(stuffed(calls=6))
    assert len(alerts) == 1  # the fourth growing call fires; later ones count on it (renotify is 30 min)
    alert = alerts[0]
    assert (alert.kind, alert.severity, alert.rule, alert.status) == (AlertKind.COST_SPIKE, Severity.TICKET, RULE,
                                                                      "firing")
    assert alert.run_id == "run-1" and alert.workflow == "refund_ticket" and alert.tenant_id == "acme"
    assert alert.value == 600.0 and alert.threshold == 250.0  # tokens per step, exact least squares
    assert "run run-1 of refund_ticket" in alert.summary
    assert "from 800 at step 1 to 4,400 at step 7" in alert.summary and "5.5x" in alert.summary
    assert alert.labels["first_input_tokens"] == "800" and alert.labels["last_input_tokens"] == "4400"
    assert alert.labels["growing_calls"] == "4"


def test_fewer_growing_calls_than_the_minimum_do_not_fire() -> None:
    assert feed(stuffed(calls=3)) == []


def test_slow_growth_under_the_threshold_does_not_fire() -> None:
    assert feed(stuffed(calls=10, base=2000, per_step=100)) == []  # retrieval-sized steps: +100 per step


def test_growth_that_stops_growing_does_not_fire() -> None:
    events = stuffed(calls=3)
    shrunk = [*events, call(40.0, 9, 900), call(50.0, 11, 1000), call(60.0, 13, 1100)]  # a summary reset the context
    assert feed(shrunk) == []


def test_a_run_that_doubles_too_little_does_not_fire() -> None:
    """Steep in tokens per step but from a large base: the last call reads less than twice the first."""
    assert feed(stuffed(calls=4, base=20_000, per_step=300)) == []


def test_the_threshold_is_per_workflow() -> None:
    strict = replace(Thresholds(), context_growth_tokens_per_step=100.0)
    rules = AlertRules(workflows={"export_report": strict})
    slow = stuffed(calls=6, base=300, per_step=150, workflow="export_report")
    assert len(feed(slow, rules)) == 1
    assert feed([e.model_copy(update={"workflow": "refund_ticket"}) for e in slow], rules) == []


def test_cache_hits_are_not_model_calls() -> None:
    events = stuffed(calls=3)
    hit = event("llm_call", {"model": "gpt-4o", "provider": "openai", "input_tokens": 0, "output_tokens": 0,
                             "latency_ms": 0.1, "cache_key": "k", "cache_hit": True, "saved_input_tokens": 9000},
                35.0, step=8)
    assert feed([*events, hit]) == []  # a zero-token hit neither breaks nor extends the streak
    assert len(feed([*events, hit, call(40.0, 9, 4000)])) == 1


def test_runs_are_followed_apart_and_forgotten_when_they_complete() -> None:
    a, b = stuffed("run-a", calls=4), stuffed("run-b", calls=4)
    mixed = [x for pair in zip(a, b, strict=True) for x in pair]
    assert sorted(alert.run_id or "" for alert in feed(mixed)) == ["run-a", "run-b"]
    state, book = ContextState(), AlertBook(1800.0)
    for e in stuffed("run-c", calls=3):
        context_growth(state, book, RULES, e)
    context_growth(state, book, RULES, completed(100.0, "succeeded", run="run-c"))
    assert "run-c" not in state.runs


def test_the_live_alerter_step_raises_it_and_resolves_it_when_quiet() -> None:
    alerter = Alerter.new(RULES)
    out: list[Alert] = []
    for e in stuffed(calls=5):
        out += alerter.step(RULES, e)
    out += alerter.step(RULES, completed(60.0, "succeeded"))
    out += alerter.step(RULES, event("run_started", {"workflow_version": "v1", "prompt_version": "p",
                                                      "model": "gpt-4o"}, 60.0 + 901, run="run-2"))
    growth = [a for a in out if a.rule == RULE]
    assert [a.status for a in growth] == ["firing", "resolved"]
    assert growth[0].alert_id == growth[1].alert_id
