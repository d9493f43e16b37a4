"""`warden cost`: spend per task from the ledger, and the check that stream and SQL agree."""

from __future__ import annotations

from pathlib import Path

import typer

from warden.cli.output import console, fail, table
from warden.core.errors import WardenError
from warden.core.settings import WardenSettings
from warden.cost.prices import DEFAULT_PRICES, PriceTable
from warden.ledger.cost_report import check as run_check
from warden.ledger.cost_report import per_task

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
