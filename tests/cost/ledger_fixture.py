"""Routed runs of two periods landed in a real chDB ledger by the sink's code, with their rollups (from the
aggregator's own step) and eval runs per model: what `warden cost routes` and `weekly` read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from tests.routing.runs import routed_runs
from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.records import CostRollup, EvalResult, EvalRun
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.cost.windows import SpendWindows, from_millis
from warden.cost_aggregator.processor import SpendState, flush, step
from warden.ledger.client import Ledger
from warden.ledger_rows.tables import TABLES_BY_NAME
from warden.ledger_sink.processor import ChainHeads, Incoming, land

WEEK_MS = 7 * 24 * 3_600_000
WEEK = 2939  # a regression period (weeks from the epoch, as the tracker counts them): 2026-04-30
START = from_millis(WEEK * WEEK_MS)


def aggregate(events: list[AgentEvent]) -> list[CostRollup]:
    prices, budgets = PriceTable.load(), BudgetConfig.load()
    state = SpendState(SpendWindows("p0"))
    rows = []
    for position, event in enumerate(events):
        state, out = step(state, prices, budgets, event, position)
        rows += [o.record for o in out if isinstance(o.record, CostRollup)]
    return rows + [o.record for o in flush(state)[1] if isinstance(o.record, CostRollup)]


def eval_records(model: str, passed: dict[str, int], cost: float, at: datetime) -> list[BaseModel]:
    run_id = f"ev-{model}"
    out: list[BaseModel] = [EvalRun(
        eval_run_id=run_id, started_at=at, completed_at=at, dataset="evals/golden/reference.jsonl",
        dataset_sha256="ab" * 32, agent="m:f", tenant_id="eval", model=model, prompt_version="p1",
        tool_schema_hash="t", policy_bundle_hash="b", items=52 * len(passed), passed=sum(passed.values()),
        success_rate_ci95_low=0.0, success_rate_ci95_high=1.0, met_targets=False)]
    for workflow, ok in passed.items():
        out += [EvalResult(result_id=f"{run_id}-{workflow}-{i}", eval_run_id=run_id, item_id=f"{workflow}-{i}",
                           workflow=workflow, run_id=f"{run_id}-{i}", completed_at=at, passed=i < ok, cost_usd=cost,
                           steps=3) for i in range(52)]
    return out


@dataclass
class Landed:
    events: list[AgentEvent]
    rollups: list[CostRollup]


def land_all(ledger: Ledger, records: list[BaseModel]) -> None:
    topic_of: dict[type[BaseModel], str] = {AgentEvent: topics.AGENT_EVENTS, CostRollup: topics.COST_ROLLUPS,
                                            EvalRun: topics.EVAL_RUNS, EvalResult: topics.EVAL_RESULTS}
    batch = [Incoming(topic_of[type(r)], 0, n, getattr(r, "run_id", None) or getattr(r, "tenant_id", "k"), r)
             for n, r in enumerate(records)]
    _, landed = land(ChainHeads(), batch, set())
    for table, columns in landed.columns.items():
        ledger.insert(table, TABLES_BY_NAME[table].insert_columns, columns)


def two_weeks(ledger: Ledger) -> Landed:
    """Week WEEK: 1,000 tokens a call; week WEEK+1: 2,500 (the rise); evals of the three routes' models."""
    before = routed_runs(240, START + timedelta(hours=1), every_s=600, prefix="wa", tokens=1000)
    after = routed_runs(240, START + timedelta(days=7, hours=1), every_s=600, prefix="wb", tokens=2500, seed=8)
    events = before + after
    rollups = aggregate(events)
    at = START + timedelta(days=13)
    evals = (eval_records("gpt-4o-mini", {"refund_ticket": 40, "triage_ticket": 52}, 0.0004, at)
             + eval_records("gpt-4o", {"refund_ticket": 52, "triage_ticket": 52}, 0.006, at)
             + eval_records("claude-3-5-sonnet", {"refund_ticket": 52}, 0.009, at))
    land_all(ledger, [*events, *rollups, *evals])
    return Landed(events, rollups)
