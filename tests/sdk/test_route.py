"""run.route / run.escalate: decided from the local routing file, recorded on the run's events in step order."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.routing.helpers import ROUTES, write
from tests.sdk.test_client import assert_one_run_in_order, read_back
from warden.core.errors import ValidationError
from warden.core.events import AgentEvent, DecisionKind, LlmCall
from warden.core.settings import WardenSettings
from warden.routing.policy import RoutingError
from warden.sdk import WardenClient
from warden.sdk.routing import decision_event

RULES = '\n[[rules]]\nid = "small-refunds"\nroute = "cheap"\nwhen.amount_usd = { le = 100 }\n'


def decision(event: AgentEvent) -> tuple[str | None, str, str, str]:
    assert isinstance(event.body, LlmCall) and event.body.route_decision is not None
    d = event.body.route_decision
    return event.body.route, event.body.model, d.kind.value, d.rule


def test_route_and_escalate_are_recorded_in_step_order(topics: WardenSettings, tmp_path: Path) -> None:
    settings = topics.model_copy(update={"routing_file": write(tmp_path, RULES)})
    with WardenClient(settings) as client, client.run("acme", "refund_ticket", "agent-1", run_id="r-1") as run:
        run.started("v3", "p1", "gpt-4o-mini")
        choice = run.route(amount_usd=42.0, intent="refund", vip=True)
        assert (choice.route, choice.model, choice.rule) == ("cheap", "gpt-4o-mini", "small-refunds")
        assert run.step == 2  # the decision took its step at once
        run.llm_call(choice.model, choice.provider, 800, 90, 500.0, route=choice.route)
        up = run.escalate("the answer contradicts the order", confidence=0.35)
        assert (up.route, up.model, up.exhausted) == ("default", "gpt-4o", False)
        top = run.escalate("still unsure")
        assert (top.route, top.exhausted) == ("strong", False)
        assert run.escalate("nowhere left").exhausted
        run.completed("succeeded")
    events = assert_one_run_in_order(read_back(settings, 7), "r-1", 7)
    assert [decision(e) for e in (events[1], events[3], events[4], events[5])] == [
        ("cheap", "gpt-4o-mini", "route", "small-refunds"), ("default", "gpt-4o", "escalate", "escalation"),
        ("strong", "claude-3-5-sonnet", "escalate", "escalation"),
        ("strong", "claude-3-5-sonnet", "escalate", "escalation")]
    first = events[1].body
    assert isinstance(first, LlmCall) and first.route_decision is not None
    assert (first.input_tokens, first.output_tokens, first.cost_usd) == (0, 0, 0.0)
    assert json.loads(first.route_decision.features) == {"amount_usd": 42.0, "intent": "refund", "tenant": "acme",
                                                         "vip": True, "workflow": "refund_ticket"}
    escalation = events[3].body
    assert isinstance(escalation, LlmCall) and escalation.route_decision is not None
    assert (escalation.route_decision.from_route, escalation.route_decision.reason,
            escalation.route_decision.confidence) == ("cheap", "the answer contradicts the order", 0.35)
    last = events[5].body
    assert isinstance(last, LlmCall) and last.route_decision is not None and last.route_decision.exhausted


def test_a_decision_alone_is_sent_on_flush(topics: WardenSettings, tmp_path: Path) -> None:
    settings = topics.model_copy(update={"routing_file": write(tmp_path, RULES)})
    with WardenClient(settings) as client:
        run = client.run("acme", "refund_ticket", "agent-1", run_id="r-2")
        run.route(amount_usd=500)
        client.flush()
        got = read_back(settings, 1)
    assert [decision(e) for _, e in got] == [("default", "gpt-4o", "route", "default")]


def test_bad_features_and_escalations_are_refused_at_once_taking_no_step(tmp_path: Path) -> None:
    client = WardenClient(WardenSettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1",
                                         routing_file=write(tmp_path, RULES)),
                          max_wait_s=1, producer_config={"log_level": 0})
    try:
        run = client.run("acme", "refund_ticket", "agent-1")
        with pytest.raises(ValidationError, match="amount_usd: expected a number, got '42'"):
            run.route(amount_usd="42")
        with pytest.raises(ValidationError, match=r"confidence: expected a number in 0\.\.1, got 1\.5"):
            run.escalate("unsure", confidence=1.5)
        with pytest.raises(ValidationError, match="reason"):
            run.escalate("")
        assert run.step == 0
    finally:
        client._deferred.clear()
        client._producer.purge()
        client.close()


def test_a_changed_routing_file_is_used_and_a_bad_one_keeps_the_last_good(tmp_path: Path) -> None:
    path = write(tmp_path, RULES)
    client = WardenClient(WardenSettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", routing_file=path),
                          max_wait_s=1, producer_config={"log_level": 0})
    try:
        client.routing.interval_s = 0
        run = client.run("acme", "refund_ticket", "agent-1")
        assert run.route(amount_usd=5).route == "cheap"
        path.write_text(ROUTES + RULES.replace('"cheap"', '"strong"'))
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        assert run.route(amount_usd=5).route == "strong"
        path.write_text(ROUTES + RULES.replace('"cheap"', '"fastest"'))
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 2 * 10**9))
        assert run.route(amount_usd=5).route == "strong"  # the last good file
        assert client.routing.last_error is not None and "line 18" in client.routing.last_error
    finally:
        client._deferred.clear()
        client._producer.purge()
        client.close()


def test_a_bad_routing_file_at_the_first_route_is_an_error(tmp_path: Path) -> None:
    client = WardenClient(WardenSettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1",
                                         routing_file=write(tmp_path, head="default_route = 1\n")),
                          max_wait_s=1, producer_config={"log_level": 0})
    try:
        with pytest.raises(RoutingError, match="routes: expected at least one"):
            client.run("acme", "refund_ticket", "agent-1").route()
    finally:
        client.close()


class Recorder:
    """A RunClient that cannot defer (an eval's recorder): gets the decision event at once."""

    def __init__(self) -> None:
        self.events: list[AgentEvent] = []

    def emit(self, event: AgentEvent) -> None:
        self.events.append(event)

    def flush(self, timeout_s: float | None = None) -> None: ...

    def gate(self) -> object: ...

    def authorize(self, *args: object, **kwargs: object) -> object: ...


def test_a_client_that_cannot_defer_gets_the_event_at_once() -> None:
    from warden.sdk.run import Run

    recorder = Recorder()
    run = Run(recorder, "acme", "triage_ticket", "agent-1", "r-3", None)  # type: ignore[arg-type]
    choice = run.route(tool="tickets.update")  # the shipped routing file
    assert choice.route == "cheap" and len(recorder.events) == 1
    assert decision(recorder.events[0]) == ("cheap", "gpt-4o-mini", DecisionKind.ROUTE.value, "triage-cheap")
    assert decision_event(run.events, 9, 0.0, choice, DecisionKind.ROUTE, None, None, None, None).step == 9


def test_the_sdk_completes_features_as_the_pure_matcher_does() -> None:
    """run.route fills the run's workflow, tenant and tier in place; warden.routing.matcher.task_features
    (which replay and the tests use) must see the same features."""
    from warden.routing.matcher import task_features
    from warden.sdk.routing import default_watcher

    recorder = Recorder()
    policy = default_watcher().current()
    for tenant, given in (("initech", {"amount_usd": 5.0}), ("initech", {"tenant_tier": "free"}),
                          ("acme", {"workflow": "other", "tenant": "x", "vip": True})):
        from warden.sdk.run import Run

        run = Run(recorder, tenant, "refund_ticket", "agent-1", f"r-{tenant}", None)  # type: ignore[arg-type]
        run.route(**given)
        body = recorder.events[-1].body
        assert isinstance(body, LlmCall) and body.route_decision is not None
        assert json.loads(body.route_decision.features) == task_features(policy, tenant, "refund_ticket", given)  # type: ignore[arg-type]


def test_the_asyncio_run_routes_and_escalates_the_same(topics: WardenSettings, tmp_path: Path) -> None:
    import asyncio

    from warden.sdk import AsyncWardenClient

    settings = topics.model_copy(update={"routing_file": write(tmp_path, RULES)})

    async def main() -> tuple[str, str, bool]:
        async with AsyncWardenClient(settings) as client:
            run = client.run("acme", "refund_ticket", "agent-1", run_id="r-async")
            first = await run.route(amount_usd=12.5)
            up = await run.escalate("unsure", confidence=0.2)
            await run.completed("succeeded")
            return first.route, up.route, up.exhausted

    assert asyncio.run(main()) == ("cheap", "default", False)
    events = assert_one_run_in_order(read_back(settings, 3), "r-async", 3)
    assert [decision(e)[:3] for e in events[:2]] == [("cheap", "gpt-4o-mini", "route"),
                                                     ("default", "gpt-4o", "escalate")]
