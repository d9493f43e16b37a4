"""`warden report --out report.html`: the dashboards as one offline HTML page."""

from __future__ import annotations

from pathlib import Path

import typer

from warden.cli.output import console, fail
from warden.core.errors import WardenError
from warden.core.settings import WardenSettings
from warden.dashboards.macros import TimeRange, utc
from warden.dashboards.model import DASHBOARDS_DIR, load_all
from warden.report.data import collect, data_range
from warden.report.page import render_page, write


def build_report(settings: WardenSettings, out: Path, start: str | None = None, end: str | None = None,
                 dashboards_dir: Path = DASHBOARDS_DIR) -> tuple[Path, int, int]:
    """Write the report; returns (path, panels with data, panels)."""
    when = data_range(settings)
    if start or end:
        when = TimeRange(utc(start) if start else when.start, utc(end) if end else when.end)
    results = collect(settings, load_all(dashboards_dir), when)
    path = write(out, render_page(results, when, settings.ledger_url))
    drawn = sum(p.has_data for r in results for p in r.panels)
    return path, drawn, sum(len(r.panels) for r in results)


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
