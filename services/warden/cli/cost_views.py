"""How `warden cost routes` and `warden cost weekly` print their figures (kept apart from the commands)."""

from __future__ import annotations

from datetime import datetime

from warden.cli.output import console, table
from warden.cost.budgets import BudgetConfig
from warden.cost.routes import NO_ROUTE, Recommendation, RouteFigures
from warden.cost.weekly import Figure, Rise, period_start
from warden.routing.policy import RoutingPolicy


def _pct(value: float | None) -> str:
    return "∅" if value is None else f"{value:.1%}"


def _usd(value: float | None) -> str:
    return "∅" if value is None else f"${value:,.4f}"


def print_routes(figures: list[RouteFigures], advice: list[Recommendation], policy: RoutingPolicy,
                 start: datetime, now: datetime) -> None:
    rows = []
    for f in figures:
        low, high = f.interval
        model = policy.routes[f.route].model if f.route in policy.routes else ""
        name = "all routes" if f.route == "*" else f.route or NO_ROUTE
        rows.append([f.workflow, name, model, f.runs, f"{_pct(f.success_rate)} [{low:.1%}, {high:.1%}]",
                     _usd(f.cost_per_success_usd), _pct(f.escalation_rate)])
    console.print(table(["workflow", "route", "model", "runs", "success (95% interval)", "cost per success",
                         "escalation rate"], rows,
                        title=f"runs completed {start:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC "
                              "(warden.cost_rollups; a run counts under the route run.route first gave it)"))
    shown = []
    for a in advice:
        interval = "∅" if a.eval_success is None else f"[{a.eval_success[0]:.1%}, {a.eval_success[1]:.1%}]"
        saving = "∅" if a.saving_usd is None else f"${a.saving_usd:,.2f}" if a.saving_usd > 0 else "none"
        shown.append([a.workflow, "∅" if a.target is None else f"{a.target:.0%}", a.route or "∅", a.model or "∅",
                      interval, _usd(a.cost_per_task_usd), a.last_week_runs, _usd(a.last_week_spend_usd), saving,
                      a.note])
    console.print(table(["workflow", "success target", "cheapest route meeting it", "model", "eval success",
                         "eval cost per task", "runs last 7 days", "spend last 7 days", "saving at that volume",
                         "evidence"], shown,
                        title="eval runs of the golden dataset per model: the whole interval at or above the "
                              "target counts as meeting it"))


def print_weekly(shown: list[Figure], rises: list[Rise], config: BudgetConfig) -> None:
    size = config.regression_period_ms
    rows = []
    for f in shown:
        change = "∅" if f.change is None else f"{f.change:+.0%}"
        if f.change is not None and f.change > config.regression_threshold:
            change = f"[red]{change}[/]"
        rows.append([f.workflow, f.scope, f"{period_start(f.period, size):%Y-%m-%d}", _usd(f.value),
                     _usd(f.previous), change])
    console.print(table(["workflow", "scope", "period from", "cost per success", "previous period", "change"], rows,
                        title="cost per successful outcome (model rows: that model's spend ÷ the workflow's "
                              "successes); periods as the cost-regression ticket's"))
    if not rises:
        console.print(f"no workflow's cost per success rose more than {config.regression_threshold:.0%} over "
                      "its previous period")
    for rise in rises:
        drivers = [[d.name, d.before, d.after, "∅" if d.effect_usd is None else f"{d.effect_usd:+.4f}"]
                   for d in rise.drivers]
        console.print(table(["driver", "previous period", "this period", "effect on cost per success ($)"], drivers,
                            title=f"{rise.workflow}, period from {period_start(rise.period, size):%Y-%m-%d}: "
                                  f"${rise.previous_usd:.4f} -> ${rise.current_usd:.4f} ({rise.change:+.0%}); "
                                  "effect: this period's figure minus the figure with that driver as before"))
