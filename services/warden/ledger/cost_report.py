"""Reading spend back from the ledger: per-task figures, the stream-versus-SQL check, per-route evidence and
the weekly cost per outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from warden.core.settings import WardenSettings
from warden.core.workflows import WorkflowContract
from warden.cost import routes as route_sql
from warden.cost import weekly as weekly_sql
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.cost.sql import as_totals, differences, event_totals_sql, per_task_sql, rollup_totals_sql
from warden.ledger import access
from warden.routing.policy import RoutingPolicy


@dataclass(frozen=True)
class CostCheck:
    keys: int
    stream_usd: float
    sql_usd: float
    unpriced_calls: int
    problems: list[str]


def check(settings: WardenSettings, prices: PriceTable) -> CostCheck:
    db = settings.clickhouse_database
    stream = as_totals(access.query(settings, rollup_totals_sql(db))[1])
    sql = as_totals(access.query(settings, event_totals_sql(prices, db))[1])
    return CostCheck(len(set(stream) | set(sql)), sum(v[0] for v in stream.values()), sum(v[0] for v in sql.values()),
                     sum(v[2] for v in sql.values()), differences(stream, sql))


def per_task(settings: WardenSettings) -> tuple[list[str], list[list[object]]]:
    return access.query(settings, per_task_sql(settings.clickhouse_database))


def routes(settings: WardenSettings, since: datetime, now: datetime, policy: RoutingPolicy,
           contracts: dict[str, WorkflowContract], dataset: str = route_sql.GOLDEN
           ) -> tuple[list[route_sql.RouteFigures], list[route_sql.Recommendation]]:
    """`warden cost routes`: live figures per workflow and route since `since`, and eval-backed advice."""
    db = settings.clickhouse_database
    figures = route_sql.route_figures(access.query(settings, route_sql.route_rows_sql(db, since))[1])
    evals = route_sql.eval_figures(access.query(settings, route_sql.eval_sql(db, dataset))[1])
    start, end = route_sql.last_week_window(now)
    last_week = {str(r[0]): (float(r[1] or 0.0), int(r[2])) for r in
                 access.query(settings, route_sql.workflow_spend_sql(db, start, end))[1]}
    workflows = sorted({f.workflow for f in figures} | {e.workflow for e in evals} | set(last_week))
    return figures, route_sql.recommend(workflows, contracts, policy, evals, last_week)


def weekly(settings: WardenSettings, prices: PriceTable, budgets: BudgetConfig, now: datetime, weeks: int = 4
           ) -> tuple[list[weekly_sql.Figure], list[weekly_sql.Rise]]:
    """`warden cost weekly` and the report's section: the last `weeks` periods of the regression ticket."""
    size = budgets.regression_period_ms
    first = int(now.timestamp() * 1000) // size - weeks  # one more than shown: the first one's "previous"
    db = settings.clickhouse_database
    cache = bool(access.query(settings, weekly_sql.cache_column_sql(db))[1][0][0])
    by_workflow = weekly_sql.periods(access.query(settings, weekly_sql.run_rows_sql(db, size, first))[1],
                                     access.query(settings, weekly_sql.call_rows_sql(db, size, first, cache))[1])
    shown = [f for f in weekly_sql.figures(by_workflow) if f.period > first]
    found = [r for r in weekly_sql.rises(by_workflow, prices, budgets.regression_threshold, size) if r.period > first]
    return shown, found
