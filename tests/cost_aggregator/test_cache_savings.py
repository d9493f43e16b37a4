"""Cache hits in the cost rollups: counted, their saved tokens summed, their saved dollars priced by the
same versioned price table (or as the entry reported), while the hit itself costs nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from warden.core.events import AgentEvent
from warden.core.records import CostRollup
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.cost.windows import Delta, SpendWindows
from warden.cost_aggregator.processor import SpendState, flush, step

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def llm(n: int, **body: Any) -> AgentEvent:
    return AgentEvent.model_validate({
        "event_id": str(uuid.uuid4()), "event_type": "llm_call", "occurred_at": T0 + timedelta(seconds=n),
        "tenant_id": "acme", "workflow": "refund_ticket", "run_id": f"run-{n}", "agent_id": "a", "step": 1,
        "body": {"model": "gpt-4o-mini", "provider": "openai", "latency_ms": 1.0, **body}})


def rollups(events: list[AgentEvent]) -> list[CostRollup]:
    prices, budgets = PriceTable.load(), BudgetConfig.load()
    state, out = SpendState(SpendWindows("p0")), []
    for n, e in enumerate(events):
        state, produced = step(state, prices, budgets, e, n)
        out += produced
    out += flush(state)[1]
    return [o.record for o in out if isinstance(o.record, CostRollup) and o.record.window == "1m"]


def test_hits_are_counted_with_what_they_saved_and_cost_nothing() -> None:
    prices = PriceTable.load()
    made = llm(0, input_tokens=900, output_tokens=60, cache_key="k")
    priced_hit = llm(1, input_tokens=0, output_tokens=0, cost_usd=0.0, cache_key="k", cache_hit=True,
                     saved_input_tokens=900, saved_output_tokens=60)
    reported_hit = llm(2, input_tokens=0, output_tokens=0, cost_usd=0.0, cache_key="k", cache_hit=True,
                       saved_input_tokens=900, saved_output_tokens=60, saved_usd=0.05)
    (row,) = rollups([made, priced_hit, reported_hit])
    assert (row.calls, row.cache_hits, row.saved_tokens) == (3, 2, 1920)
    assert made.body.model_dump()["cost_usd"] is None
    first = prices.price(made.body, made.occurred_at).cost_usd  # type: ignore[arg-type]
    assert first > 0
    assert abs(row.cost_usd - first) < 1e-12  # the hits added nothing to spend
    assert abs(row.saved_usd - (first + 0.05)) < 1e-12  # one priced as the original, one as reported


def test_a_snapshot_from_before_the_cache_fields_restores_with_none_saved() -> None:
    old = [7, 10, 5, 0, 1, 0, 0.01, 0, 0, 0, ["v1"]]  # a Delta as it was written before the cache
    delta = Delta.from_json(json.loads(json.dumps(old)))
    assert (delta.cache_hits, delta.saved_tokens, delta.saved_usd, delta.calls) == (0, 0, 0.0, 1)
    assert Delta.from_json(delta.to_json()) == delta
