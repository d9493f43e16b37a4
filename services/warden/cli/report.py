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
) -> None:
    """Render the dashboards' panels from the ledger into one self-contained HTML page."""
    try:
        path, drawn, total = build_report(WardenSettings(), out, start, end, dashboards_dir)
    except WardenError as exc:
        fail(str(exc))
    console.print(f"report: {path} ({drawn} of {total} panels have data)", highlight=False, soft_wrap=True)
