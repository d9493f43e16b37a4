"""The five workflow metrics of warden.core.metrics as the ledger SQL the dashboards run.

The runs judged are the runs whose run_started lies in the dashboard's time range (and selection of
tenant and workflow), whatever became of them; over those runs, exactly as core/metrics.py defines:

- task success rate  = runs that completed `succeeded` ÷ runs with a run_completed
- violation rate     = runs with at least one policy deny ÷ runs
- cost per task      = the runs' spend ÷ runs with a run_completed; spend prices each llm_call with
                       the versioned price table (warden.cost.sql), a call of an unknown model adds 0
- latency p95        = nearest-rank 95th percentile of run_started → run_completed, event time
- high-severity rate = runs with at least one page-severity alert ÷ runs

A zero denominator gives NULL ("no evidence"), never 0. tests/dashboards/test_metric_sql.py runs this
SQL and core.metrics.summarize over the same runs and requires the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence

from warden.cost.prices import PriceTable
from warden.cost.sql import priced_cost_sql

TENANT = "$__conditionalAll(tenant_id IN (${tenant:singlequote}), $tenant)"
WORKFLOW = "$__conditionalAll(workflow IN (${workflow:singlequote}), $workflow)"

# metric -> its expression over the joined per-run rows of one group
EXPRESSIONS = {
    "runs": "count()",
    "completed": "sum(done)",
    "task_success_rate": "countIf(done = 1 AND status = 'succeeded') / nullIf(sum(done), 0)",
    "violation_rate": "countIf(denied) / nullIf(count(), 0)",
    "cost_per_task_usd": "sum(spend_usd) / nullIf(sum(done), 0)",
    # nearest rank: the ceil(0.95 n)-th smallest latency of the completed runs (core.metrics.percentile)
    "latency_p95_s": ("if(sum(done) = 0, NULL, arrayElement(arraySort(groupArrayIf(latency_s, done = 1)), "
                      "toUInt64(ceil(0.95 * sum(done)))))"),
    "high_severity_rate": "countIf(paged) / nullIf(count(), 0)",
}


def runs_sql(prices: PriceTable) -> str:
    """One row per run started in the range: who, which release, when, how it ended, what it spent."""
    return f"""WITH runs AS (
    SELECT run_id, tenant_id, workflow, ifNull(any(coalesce(release, workflow_version)), '') AS release,
           min(occurred_at) AS started_at
    FROM warden.agent_events
    WHERE event_type = 'run_started' AND $__timeFilter(occurred_at) AND {TENANT} AND {WORKFLOW}
    GROUP BY run_id, tenant_id, workflow),
ends AS (
    SELECT run_id, 1 AS done, argMin(toString(status), occurred_at) AS status, min(occurred_at) AS completed_at
    FROM warden.agent_events
    WHERE event_type = 'run_completed' AND run_id IN (SELECT run_id FROM runs)
    GROUP BY run_id),
spend AS (
    SELECT run_id, sum(ifNull(priced, 0)) AS spend_usd
    FROM (SELECT run_id, {priced_cost_sql(prices)} AS priced FROM warden.agent_events
          WHERE event_type = 'llm_call' AND run_id IN (SELECT run_id FROM runs))
    GROUP BY run_id),
per_run AS (
    SELECT r.run_id AS run_id, r.tenant_id AS tenant_id, r.workflow AS workflow, r.release AS release,
           r.started_at AS started_at, e.done AS done, e.status AS status,
           greatest(0, dateDiff('millisecond', r.started_at, e.completed_at)) / 1000 AS latency_s,
           s.spend_usd AS spend_usd,
           r.run_id IN (SELECT run_id FROM warden.policy_decisions WHERE decision = 'deny') AS denied,
           r.run_id IN (SELECT run_id FROM warden.alerts WHERE severity = 'page' AND run_id IS NOT NULL) AS paged
    FROM runs AS r
    LEFT JOIN ends AS e ON e.run_id = r.run_id
    LEFT JOIN spend AS s ON s.run_id = r.run_id)"""


def metrics_sql(prices: PriceTable, metrics: Sequence[str], group: Sequence[tuple[str, str]] = (),
                having: str = "", order: str = "") -> str:
    """`metrics` (keys of EXPRESSIONS) per group; `group` is (expression over per_run, alias) pairs."""
    unknown = [m for m in metrics if m not in EXPRESSIONS]
    if unknown:
        raise KeyError(f"no SQL for metric(s) {', '.join(unknown)}; known: {', '.join(EXPRESSIONS)}")
    columns = [f"{expr} AS {alias}" for expr, alias in group] + [f"{EXPRESSIONS[m]} AS {m}" for m in metrics]
    sql = f"{runs_sql(prices)}\nSELECT {', '.join(columns)}\nFROM per_run"
    if group:
        sql += f"\nGROUP BY {', '.join(alias for _, alias in group)}"
    if having:
        sql += f"\nHAVING {having}"
    if order or group:
        sql += f"\nORDER BY {order or ', '.join(alias for _, alias in group)}"
    return sql
