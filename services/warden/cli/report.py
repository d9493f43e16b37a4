"""`warden report --out report.html`: the dashboards as one offline HTML page."""

from __future__ import annotations

from pathlib import Path

import typer

from warden.cli.output import console, fail
from warden.core.errors import WardenError
from warden.core.settings import WardenSettings
from warden.dashboards.model import DASHBOARDS_DIR
from warden.report.build import build_report


def report(
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="Where to write the HTML page."),
    start: str | None = typer.Option(None, "--from", help="Start (ISO-8601, UTC); default: the first event."),
    end: str | None = typer.Option(None, "--to", help="End (ISO-8601, UTC); default: now."),
    dashboards_dir: Path = typer.Option(DASHBOARDS_DIR, "--dashboards", help="Folder of dashboard JSON files."),
    tenant: list[str] = typer.Option([], "--tenant", help="Only these tenants (repeatable); default: All."),
    workflow: list[str] = typer.Option([], "--workflow", help="Only these workflows (repeatable); default: All."),
) -> None:
    """Render the dashboards' panels from the ledger into one self-contained HTML page."""
    selection = {name: values for name, values in (("tenant", tenant), ("workflow", workflow)) if values}
    try:
        path, drawn, total = build_report(WardenSettings(), out, start, end, dashboards_dir, selection)
    except WardenError as exc:
        fail(str(exc))
    console.print(f"report: {path} ({drawn} of {total} panels have data)", highlight=False, soft_wrap=True)
