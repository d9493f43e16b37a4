"""Routing headers (ADR 0019): what every producer writes is what a service reads back, and anything
else (no headers, a foreign client's, garbled ones) means "decode the record as before"."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.rollout.helpers import event
from warden.core.events import AgentEvent
from warden.core.headers import TIME, TYPE, Routing, disagreement, event_headers, routing_from_event, routing_of


def an_event(at: datetime = datetime(2026, 12, 1, 9, 0, 0, 123_000, tzinfo=UTC)) -> AgentEvent:
    return event("llm_call", "r1", at, {"model": "m", "provider": "p", "input_tokens": 1, "output_tokens": 1,
                                        "latency_ms": 1.0}, tenant="acme", workflow="refund_ticket")


def test_headers_carry_the_events_routing_facts_to_the_millisecond() -> None:
    e = an_event()
    routing = routing_of(event_headers(e))
    assert routing == Routing("llm_call", 1_796_115_600_123, "acme", "refund_ticket")
    assert routing == routing_from_event(e)
    assert routing is not None and routing.occurred_at == e.occurred_at


def test_every_millisecond_of_a_second_comes_back_exactly() -> None:
    for ms in range(1000):
        at = datetime(2026, 12, 1, 9, 0, 0, ms * 1000, tzinfo=UTC)
        routing = routing_of(event_headers(an_event(at)))
        assert routing is not None and routing.occurred_at == at


def test_records_without_usable_headers_are_decoded_as_before() -> None:
    assert routing_of(None) is None
    assert routing_of([]) is None
    assert routing_of([("traceparent", b"00-abc")]) is None  # a foreign client's headers only
    assert routing_of([(TYPE, b"llm_call")]) is None  # no time
    assert routing_of([(TYPE, b"not_a_type"), (TIME, b"1")]) is None
    assert routing_of([(TYPE, b"llm_call"), (TIME, b"-5")]) is None
    assert routing_of([(TYPE, b"llm_call"), (TIME, b"9" * 40)]) is None
    assert routing_of([(TYPE, None), (TIME, b"1")]) is None
    assert routing_of({TYPE: "run_started", TIME: "7"}) == Routing("run_started", 7)  # a mapping, str values


def test_headers_that_disagree_with_the_body_are_named() -> None:
    e = an_event()
    assert disagreement(routing_from_event(e), e) is None
    wrong = Routing("tool_call_completed", routing_from_event(e).occurred_ms, "acme", None)
    assert disagreement(wrong, e) == ("header warden.type='tool_call_completed' disagrees with the event's "
                                      "'llm_call'")
