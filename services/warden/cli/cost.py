"""`warden cost`: spend per task from the ledger, the check that stream and SQL agree, per-route evidence
(`routes`) and the weekly cost per successful outcome with what drove a rise (`weekly`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from warden.cli.cost_views import print_routes, print_weekly
from warden.cli.output import console, fail, table
from warden.cli.workflow import span
from warden.core.errors import WardenError
from warden.core.settings import WardenSettings
from warden.core.workflows import load_contracts
from warden.cost.budgets import DEFAULT_BUDGETS, BudgetConfig
from warden.cost.prices import DEFAULT_PRICES, PriceTable
from warden.cost.routes import GOLDEN
from warden.ledger import cost_report as report
from warden.ledger.cost_report import check as run_check
from warden.ledger.cost_report import per_task
from warden.routing.policy import DEFAULT_ROUTING, load_routing

cost_app = typer.Typer(help="Token spend, cost per task, budgets.", no_args_is_help=True)


@cost_app.command("summary")
def summary() -> None:
    """Spend, cost per completed and per successful task, ceiling breaches and unpriced calls per workflow."""
    try:
        columns, rows = per_task(WardenSettings())
    except WardenError as exc:
        fail(str(exc))
    console.print(table(columns, rows, title="Cost per task (warden.cost_rollups, 1-minute windows)"))


@cost_app.command("check")
def check(prices: Path = typer.Option(DEFAULT_PRICES, "--prices", help="The price table the aggregator uses")) -> None:
    """Re-price the ledger's raw llm_call events in SQL and compare with the aggregator's rollups, to the cent."""
    try:
        result = run_check(WardenSettings(), PriceTable.load(prices))
    except WardenError as exc:
        fail(str(exc))
    for problem in result.problems[:20]:
        console.print(f"[red]differs[/] {problem}", highlight=False)
    if result.problems:
        fail(f"{len(result.problems)} of {result.keys} tenant/workflow/model/route totals differ between the stream "
             f"(${result.stream_usd:,.2f}) and SQL over the raw events (${result.sql_usd:,.2f}); windows still "
             "open in the aggregator close within its idle flush time")
    console.print(f"[green]stream and SQL agree[/] on {result.keys} tenant/workflow/model/route totals: "
                  f"${result.sql_usd:,.2f} ({result.unpriced_calls} calls of unpriced models counted, not priced)")


@cost_app.command("routes")
def routes(
    since: str = typer.Option("7d", "--since", help="Runs completed in the last 30m, 24h, 7d..."),
    routing: Path = typer.Option(DEFAULT_ROUTING, "--routing", help="The routing file (routes and their models)"),
    dataset: str = typer.Option(GOLDEN, "--dataset", help="Eval runs whose dataset path ends with this"),
) -> None:
    """Per workflow and route: runs, success rate with its 95% interval, cost per successful task, escalation
    rate; and, from eval runs per model, the cheapest route meeting the workflow's task_success_rate_min."""
    now = datetime.now(UTC)
    start = now - span(since)
    try:
        policy = load_routing(routing)
        figures, advice = report.routes(WardenSettings(), start, now, policy, load_contracts(), dataset)
    except WardenError as exc:
        fail(str(exc))
    print_routes(figures, advice, policy, start, now)


@cost_app.command("weekly")
def weekly(
    weeks: int = typer.Option(4, "--weeks", min=1, help="Periods shown (each compared with the one before)"),
    budgets: Path = typer.Option(DEFAULT_BUDGETS, "--budgets", help="Its [regression] period and threshold"),
    prices: Path = typer.Option(DEFAULT_PRICES, "--prices", help="The price table (re-pricing a period)"),
) -> None:
    """Cost per successful outcome per workflow, route and model, week over week; for every rise over the
    regression threshold (20%), what drove it. The cost-regression ticket points here."""
    try:
        config = BudgetConfig.load(budgets)
        shown, rises = report.weekly(WardenSettings(), PriceTable.load(prices), config, datetime.now(UTC), weeks)
    except WardenError as exc:
        fail(str(exc))
    print_weekly(shown, rises, config)
