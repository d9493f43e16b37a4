"""The price table as ClickHouse SQL, so the ledger's raw events re-price to the stream's figures.

`warden cost check` and the tests compare the rollups the aggregator produced with totals
computed here from warden.agent_events alone: two independent paths to the same dollars.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warden.cost.prices import PriceTable

TOTAL_KEYS = ("tenant_id", "workflow", "model", "route")


def _at(at: datetime) -> str:
    return f"toDateTime64('{at:%Y-%m-%d %H:%M:%S}', 3, 'UTC')"


def priced_cost_sql(prices: PriceTable) -> str:
    """cost_usd when the event reported it, else the version in force at occurred_at; NULL when unknown."""
    cached = "least(cached_tokens, input_tokens)"
    branches = []
    for index, version in enumerate(prices.versions):
        until = prices.versions[index + 1].effective_from if index + 1 < len(prices.versions) else None
        in_force = f"occurred_at >= {_at(version.effective_from)}"
        if until is not None:
            in_force += f" AND occurred_at < {_at(until)}"
        for model, price in sorted(version.models.items()):
            quoted = model.replace("\\", "\\\\").replace("'", "\\'")
            branches.append(
                f"model = '{quoted}' AND {in_force}, "
                f"((input_tokens - {cached}) * {price.input!r} + {cached} * {price.cached_input!r} "
                f"+ output_tokens * {price.output!r}) / 1000000")
    return f"coalesce(cost_usd, multiIf({', '.join(branches)}, NULL))"


def event_totals_sql(prices: PriceTable, database: str = "warden") -> str:
    return (f"SELECT tenant_id, workflow, model, call_route AS route, sum(priced) AS cost_usd, count() AS calls, "
            f"countIf(priced IS NULL) AS unpriced_calls FROM ("
            f"SELECT tenant_id, workflow, model, coalesce(route, provider) AS call_route, "
            f"{priced_cost_sql(prices)} AS priced FROM {database}.agent_events "
            f"WHERE event_type = 'llm_call' AND route_decision IS NULL) "
            f"GROUP BY tenant_id, workflow, model, route ORDER BY tenant_id, workflow, model, route")


def rollup_totals_sql(database: str = "warden", window: str = "1m") -> str:
    return (f"SELECT tenant_id, workflow, model, route, sum(cost_usd) AS cost_usd, sum(calls) AS calls, "
            f"sum(unpriced_calls) AS unpriced_calls FROM {database}.cost_rollups "
            f"WHERE window = '{window}' AND model != '' "
            f"GROUP BY tenant_id, workflow, model, route ORDER BY tenant_id, workflow, model, route")


def per_task_sql(database: str = "warden") -> str:
    """Cost per completed and per successful task per workflow (1-minute rows, so nothing twice)."""
    return (f"SELECT workflow, round(sum(cost_usd), 4) AS spend_usd, sum(runs_completed) AS completed, "
            f"sum(runs_succeeded) AS succeeded, "
            f"round(sum(cost_usd) / nullIf(sum(runs_completed), 0), 4) AS usd_per_completed_task, "
            f"round(sum(cost_usd) / nullIf(sum(runs_succeeded), 0), 4) AS usd_per_successful_task, "
            f"sum(runs_over_ceiling) AS over_task_ceiling, sum(unpriced_calls) AS unpriced_calls "
            f"FROM {database}.cost_rollups WHERE window = '1m' GROUP BY workflow ORDER BY workflow")


Totals = dict[tuple[str, str, str, str], tuple[float, int, int]]


def as_totals(rows: list[list[Any]]) -> Totals:
    return {(str(r[0]), str(r[1]), str(r[2]), str(r[3])): (float(r[4] or 0.0), int(r[5]), int(r[6])) for r in rows}


def differences(stream: Totals, sql: Totals, tolerance_usd: float = 0.005) -> list[str]:
    """Keys whose dollars differ by half a cent or more, or whose call counts differ at all."""
    problems = []
    for key in sorted(set(stream) | set(sql)):
        a, b = stream.get(key, (0.0, 0, 0)), sql.get(key, (0.0, 0, 0))
        if abs(a[0] - b[0]) >= tolerance_usd or a[1:] != b[1:]:
            problems.append(f"{'/'.join(key)}: stream ${a[0]:.4f} ({a[1]} calls, {a[2]} unpriced) vs "
                            f"SQL ${b[0]:.4f} ({b[1]} calls, {b[2]} unpriced)")
    return problems
