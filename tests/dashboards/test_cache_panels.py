"""The caching and context panels on a small ledger: hits and savings from the cost rollups the aggregator
makes, input tokens per step from the llm_calls (cache hits left out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.dashboards.helpers import event, fill, run_sql
from warden.core.records import CostRollup
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.cost.windows import SpendWindows
from warden.cost_aggregator.processor import SpendState, flush, step
from warden.dashboards.build import dashboards
from warden.dashboards.macros import TimeRange
from warden.ledger.client import Ledger

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
WHEN = TimeRange(T0, T0 + timedelta(hours=1))
PANELS = {p.title: p for b in dashboards() for p in b.panels}


def llm(run: str, n: int, step_no: int, tokens: int, workflow: str = "refund_ticket", **body: Any) -> Any:
    return event("llm_call", run, T0 + timedelta(minutes=5, seconds=n), step_no, "acme", workflow, model="gpt-4o-mini",
                 provider="openai", input_tokens=tokens, output_tokens=40, latency_ms=3.0, **body)


def test_hits_savings_and_input_tokens_per_step(ledger: Ledger) -> None:
    events = [llm("run-1", 0, 2, 1000, cache_key="k"), llm("run-1", 1, 4, 3000), llm("run-1", 2, 6, 5000),
              llm("run-2", 3, 2, 0, cache_key="k", cache_hit=True, cost_usd=0.0, saved_input_tokens=1000,
                  saved_output_tokens=40, saved_usd=0.01),
              llm("run-3", 4, 2, 800, workflow="export_report"), llm("run-3", 5, 4, 900, workflow="export_report")]
    state, rollups = SpendState(SpendWindows("p0")), []
    for n, e in enumerate(events):
        state, out = step(state, PriceTable.load(), BudgetConfig.load(), e, n)
        rollups += [o.record for o in out]
    rollups += [o.record for o in flush(state)[1]]
    fill(ledger, [*events, *(r for r in rollups if isinstance(r, CostRollup))])

    _, cache = run_sql(ledger, PANELS["Cache hits and savings by workflow"].sql, WHEN)
    by_workflow = {row["workflow"]: row for row in cache}
    refund = by_workflow["refund_ticket"]
    assert (refund["llm_calls"], refund["hits"], refund["tokens_saved"]) == (4, 1, 1040)
    assert refund["hit_rate"] == 0.25 and refund["usd_saved"] == 0.01
    assert by_workflow["export_report"]["hits"] == 0

    _, steps = run_sql(ledger, PANELS["Input tokens per step by workflow"].sql, WHEN)
    assert [(row["workflow_step"], row["avg_input_tokens"]) for row in steps] == [
        ("export_report step 2", 800), ("export_report step 4", 900),
        ("refund_ticket step 2", 1000), ("refund_ticket step 4", 3000), ("refund_ticket step 6", 5000)]
