"""Reading spend back from the ledger: per-task figures, and the stream-versus-SQL check."""

from __future__ import annotations

from dataclasses import dataclass

from warden.core.settings import WardenSettings
from warden.cost.prices import PriceTable
from warden.cost.sql import as_totals, differences, event_totals_sql, per_task_sql, rollup_totals_sql
from warden.ledger import access


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
