"""The workflow metrics of warden.core.metrics as ClickHouse SQL over the ledger, per workflow and release.

The same definitions, computed from the landed records alone (agent_events, policy_decisions,
alerts), so `warden workflow status` and a dashboard give the numbers the gates use; a test lands
runs and compares this with warden.core.metrics on the same runs. The runs of a window are the runs
whose run_started falls in it; a run's release is RunStarted.release, else its workflow_version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warden.core.metrics import WorkflowMetrics
from warden.cost.prices import PriceTable
from warden.cost.sql import priced_cost_sql

COLUMNS = ("workflow", "release", "runs", "completed", "succeeded", "violating_runs", "paged_runs", "spend_usd",
           "task_success_rate", "violation_rate", "cost_per_task_usd", "latency_p95_s", "high_severity_rate")


def _at(at: datetime) -> str:
    return f"toDateTime64('{at:%Y-%m-%d %H:%M:%S.%f}', 3, 'UTC')"


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def workflow_metrics_sql(prices: PriceTable, since: datetime, until: datetime, workflow: str | None = None,
                         database: str = "warden") -> str:
    only = f" AND workflow = {_quoted(workflow)}" if workflow else ""
    runs = (f"SELECT run_id, any(workflow) AS run_workflow, argMin(coalesce(release, workflow_version), "
            f"occurred_at) AS run_release, min(occurred_at) AS started_at FROM {database}.agent_events "
            f"WHERE event_type = 'run_started' "
            f"AND occurred_at >= {_at(since)} AND occurred_at < {_at(until)}{only} GROUP BY run_id")
    ids = "SELECT run_id FROM runs"
    return f"""
WITH runs AS ({runs}),
done AS (SELECT run_id, 1 AS done, min(occurred_at) AS completed_at, argMin(status, occurred_at) AS run_status
         FROM {database}.agent_events WHERE event_type = 'run_completed' AND run_id IN ({ids}) GROUP BY run_id),
spend AS (SELECT run_id, sum(coalesce(priced, 0)) AS spend_usd FROM (SELECT run_id, {priced_cost_sql(prices)} AS priced
          FROM {database}.agent_events WHERE event_type = 'llm_call' AND run_id IN ({ids})) GROUP BY run_id),
denied AS (SELECT run_id, count() AS denials FROM {database}.policy_decisions
           WHERE decision = 'deny' AND run_id IN ({ids}) GROUP BY run_id),
paged AS (SELECT run_id, count() AS pages FROM {database}.alerts
          WHERE severity = 'page' AND status = 'firing' AND run_id IN ({ids}) GROUP BY run_id),
per_run AS (
  SELECT r.run_workflow AS workflow, r.run_release AS release, r.started_at AS started_at,
         coalesce(d.done, 0) AS done, d.completed_at AS completed_at, d.run_status AS status,
         coalesce(s.spend_usd, 0) AS spend_usd,
         coalesce(n.denials, 0) AS denials, coalesce(p.pages, 0) AS pages
  FROM runs AS r LEFT JOIN done AS d ON d.run_id = r.run_id LEFT JOIN spend AS s ON s.run_id = r.run_id
  LEFT JOIN denied AS n ON n.run_id = r.run_id LEFT JOIN paged AS p ON p.run_id = r.run_id
  SETTINGS join_use_nulls = 1),  -- not relied on: a run without a completion has done = 0 either way
totals AS (
  SELECT workflow, release, count() AS runs, countIf(done = 1) AS completed,
         countIf(status = 'succeeded') AS succeeded, countIf(denials > 0) AS violating_runs,
         countIf(pages > 0) AS paged_runs, sum(spend_usd) AS spend_usd,
         arraySort(groupArrayIf(greatest(0, dateDiff('millisecond', started_at, completed_at)) / 1000,
                                done = 1)) AS latencies
  FROM per_run GROUP BY workflow, release)
SELECT workflow, release, runs, completed, succeeded, violating_runs, paged_runs, spend_usd,
       if(completed = 0, NULL, succeeded / completed) AS task_success_rate,
       if(runs = 0, NULL, violating_runs / runs) AS violation_rate,
       if(completed = 0, NULL, spend_usd / completed) AS cost_per_task_usd,
       if(length(latencies) = 0, NULL,
          latencies[toUInt64(greatest(1, ceil(0.95 * length(latencies))))]) AS latency_p95_s,
       if(runs = 0, NULL, paged_runs / runs) AS high_severity_rate
FROM totals ORDER BY workflow, release"""


def as_metrics(row: dict[str, Any]) -> WorkflowMetrics:
    return WorkflowMetrics(**{k: row[k] for k in COLUMNS if k not in ("workflow", "release")})
