"""`warden workflow status [WORKFLOW]`: each workflow's metrics per release against its targets, from the ledger."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import typer

from warden.cli.output import console, fail, figure, table
from warden.core.errors import WardenError
from warden.core.metrics import TARGET_KEYS
from warden.core.settings import WardenSettings
from warden.core.workflows import contract_for, load_contracts
from warden.cost.prices import DEFAULT_PRICES, PriceTable
from warden.ledger import access
from warden.rollout.metrics_sql import COLUMNS, workflow_metrics_sql

workflow_app = typer.Typer(help="Workflow contracts: targets and how each release meets them.", no_args_is_help=True)
_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([mhd])$")


def span(text: str) -> timedelta:
    match = _SPAN.match(text.strip())
    if not match:
        raise typer.BadParameter(f"expected a span like 30m, 24h or 7d, got {text!r}")
    amount, unit = float(match.group(1)), match.group(2)
    try:  # a window past datetime's range was an OverflowError traceback (99999999999d, or 9999999d from now)
        window = timedelta(minutes=amount) if unit == "m" else timedelta(hours=amount) if unit == "h" \
            else timedelta(days=amount)
        datetime.now(UTC) - window
    except OverflowError:
        raise typer.BadParameter(f"the window {text!r} reaches before year 1; expected a span like 30m, 24h or "
                                 "7d") from None
    return window


def _shown(value: object, target: float | None, bound: str) -> str:
    if value is None:
        return "∅"
    assert isinstance(value, float | int)
    text = figure(float(value))
    if target is None:
        return text
    met = value >= target if bound == "min" else value <= target
    return f"{text} {'[green]ok[/]' if met else '[red]MISSED[/]'} ({bound} {target:g})"


@workflow_app.command("status")
def status(
    workflow: str | None = typer.Argument(None, help="One workflow (default: every workflow with runs)"),
    since: str = typer.Option("24h", "--since", help="Window: runs started in the last 30m, 24h, 7d..."),
) -> None:
    """Per workflow and release: task success, violation rate, cost per task, p95 latency, high-severity rate."""
    until = datetime.now(UTC)
    start = until - span(since)
    settings = WardenSettings()
    try:
        contracts = load_contracts()
        sql = workflow_metrics_sql(PriceTable.load(DEFAULT_PRICES), start, until, workflow,
                                   settings.clickhouse_database)
        _, rows = access.query(settings, sql)
    except WardenError as exc:
        fail(str(exc))
    metric_keys = {metric: (key, bound) for key, (metric, bound) in TARGET_KEYS.items()}
    shown = []
    for raw in rows:
        row = dict(zip(COLUMNS, raw, strict=True))
        targets = contract_for(contracts, str(row["workflow"])).targets
        cells = [row["workflow"], row["release"], f"{row['completed']}/{row['runs']}"]
        for metric, (key, bound) in metric_keys.items():
            cells.append(_shown(row[metric], getattr(targets, key), bound))
        shown.append(cells)
    console.print(table(["workflow", "release", "completed/runs", *metric_keys], shown,
                        title=f"runs started {start:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC "
                              "(definitions: warden/core/metrics.py)"))
