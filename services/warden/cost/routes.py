"""Evidence for routing (`warden cost routes`): how each route does per workflow, and what evals say.

Live figures come from the cost rollups' run rows (model ''), whose route is the route run.route first
gave the run (empty: a run with no routing decision). Definitions, as warden.core.metrics:
- runs              completed runs (the rollups count a run when its run_completed arrives)
- success rate      succeeded ÷ completed, with Wilson's 95% interval (warden.core.stats)
- cost per success  the runs' whole spend (every route they used, escalations included) ÷ succeeded runs
- escalation rate   runs that called run.escalate at least once ÷ completed runs

Eval evidence: for each model, its latest eval run of the golden dataset (eval_runs, eval_results); a
route meets a workflow's task_success_rate_min when the whole Wilson interval of its model's success on
the workflow's items is at or above it (as rollout gates judge). The cheapest such route, by the eval's
cost per item, is recommended, with the saving at last week's volume: last week's spend of the workflow
minus last week's completed runs x that cost per item (an estimate: eval items stand for real tasks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from warden.core.stats import wilson
from warden.core.workflows import WorkflowContract, contract_for
from warden.routing.policy import RoutingPolicy

GOLDEN = "golden/reference.jsonl"  # eval_runs.dataset ends with this for the shipped golden dataset
NO_ROUTE = "(no route)"


def _at(at: datetime) -> str:
    return f"toDateTime64('{at:%Y-%m-%d %H:%M:%S}', 3, 'UTC')"


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def route_rows_sql(database: str, since: datetime | None, until: datetime | None = None) -> str:
    where = ["window = '1m'", "model = ''"]
    if since is not None:
        where.append(f"window_start >= {_at(since)}")
    if until is not None:
        where.append(f"window_start < {_at(until)}")
    return (f"SELECT workflow, route, sum(runs_completed), sum(runs_succeeded), sum(runs_escalated), "
            f"sum(run_cost_usd) FROM {database}.cost_rollups WHERE {' AND '.join(where)} "
            f"GROUP BY workflow, route ORDER BY workflow, route")


def workflow_spend_sql(database: str, since: datetime, until: datetime) -> str:
    """Every row's spend (call rows) and completed runs (run rows) per workflow: last week's volume."""
    return (f"SELECT workflow, sum(cost_usd), sum(runs_completed) FROM {database}.cost_rollups "
            f"WHERE window = '1m' AND window_start >= {_at(since)} AND window_start < {_at(until)} "
            f"GROUP BY workflow ORDER BY workflow")


def eval_sql(database: str, dataset: str = GOLDEN) -> str:
    """Per model (its latest eval run of the dataset) and workflow: items, passed, cost."""
    return (f"SELECT r.model, x.workflow, count(), countIf(x.passed), sum(x.cost_usd), any(r.eval_run_id) "
            f"FROM {database}.eval_results AS x INNER JOIN ("
            f"SELECT model, argMax(eval_run_id, completed_at) AS eval_run_id FROM {database}.eval_runs "
            f"WHERE endsWith(dataset, {_quoted(dataset)}) GROUP BY model) AS r ON x.eval_run_id = r.eval_run_id "
            f"GROUP BY r.model, x.workflow ORDER BY r.model, x.workflow")


@dataclass(frozen=True)
class RouteFigures:
    workflow: str
    route: str  # "" for runs with no routing decision
    runs: int
    succeeded: int
    escalated: int
    spend_usd: float

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.runs if self.runs else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.succeeded, self.runs)

    @property
    def cost_per_success_usd(self) -> float | None:
        return self.spend_usd / self.succeeded if self.succeeded else None

    @property
    def escalation_rate(self) -> float | None:
        return self.escalated / self.runs if self.runs else None


def route_figures(rows: list[list[Any]]) -> list[RouteFigures]:
    """The per-route rows and, per workflow, one more with route "*" adding them all up."""
    found = [RouteFigures(str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), float(r[5] or 0.0)) for r in rows]
    out: list[RouteFigures] = []
    for workflow in sorted({f.workflow for f in found}):
        mine = [f for f in found if f.workflow == workflow]
        out += mine
        out.append(RouteFigures(workflow, "*", sum(f.runs for f in mine), sum(f.succeeded for f in mine),
                                sum(f.escalated for f in mine), sum(f.spend_usd for f in mine)))
    return out


@dataclass(frozen=True)
class EvalFigures:
    model: str
    workflow: str
    items: int
    passed: int
    cost_usd: float
    eval_run_id: str

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.passed, self.items)

    @property
    def cost_per_item_usd(self) -> float:
        return self.cost_usd / self.items if self.items else 0.0


def eval_figures(rows: list[list[Any]]) -> list[EvalFigures]:
    return [EvalFigures(str(r[0]), str(r[1]), int(r[2]), int(r[3]), float(r[4] or 0.0), str(r[5])) for r in rows]


@dataclass(frozen=True)
class Recommendation:
    workflow: str
    target: float | None  # task_success_rate_min; None: the workflow sets none
    route: str | None  # the cheapest route meeting it; None: none does (or no eval of any route's model)
    model: str | None
    eval_success: tuple[float, float] | None  # its model's Wilson interval on the workflow's items
    cost_per_task_usd: float | None  # its eval cost per item
    last_week_runs: int
    last_week_spend_usd: float
    saving_usd: float | None  # last week's spend - runs x cost per task; None when nothing is recommended
    note: str


def recommend(workflows: list[str], contracts: dict[str, WorkflowContract], policy: RoutingPolicy,
              evals: list[EvalFigures], last_week: dict[str, tuple[float, int]]) -> list[Recommendation]:
    """One line per workflow that has eval evidence for a route's model, or live runs last week."""
    by_key = {(e.model, e.workflow): e for e in evals}
    out = []
    for workflow in workflows:
        target = contract_for(contracts, workflow).targets.task_success_rate_min
        spend, runs = last_week.get(workflow, (0.0, 0))
        judged = [(name, route.model, by_key[(route.model, workflow)]) for name, route in policy.routes.items()
                  if (route.model, workflow) in by_key]
        if not judged:
            out.append(Recommendation(workflow, target, None, None, None, None, runs, spend, None,
                                      "no eval run of the golden dataset for any route's model"))
            continue
        if target is None:
            out.append(Recommendation(workflow, None, None, None, None, None, runs, spend, None,
                                      "the workflow sets no task_success_rate_min"))
            continue
        meeting = sorted((e.cost_per_item_usd, name, model, e) for name, model, e in judged if e.interval[0] >= target)
        if not meeting:
            best = max(judged, key=lambda j: j[2].interval[0])
            out.append(Recommendation(workflow, target, None, None, None, None, runs, spend, None,
                                      f"no route's model meets it on the evals (best: {best[0]} with {best[1]}, "
                                      f"interval from {best[2].interval[0]:.1%})"))
            continue
        cost, name, model, e = meeting[0]
        saving = spend - runs * cost if runs else None
        note = f"eval run {e.eval_run_id}: {e.passed}/{e.items} items passed"
        out.append(Recommendation(workflow, target, name, model, e.interval, cost, runs, spend, saving, note))
    return out


def last_week_window(now: datetime) -> tuple[datetime, datetime]:
    """The 7 days before now (the volume a saving is estimated at)."""
    return now - timedelta(days=7), now
