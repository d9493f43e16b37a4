"""Build the report file: the data's time range, every dashboard's panels, one HTML page."""

from __future__ import annotations

from pathlib import Path

from warden.core.settings import WardenSettings
from warden.dashboards.macros import TimeRange, utc
from warden.dashboards.model import DASHBOARDS_DIR, load_all
from warden.report.data import collect, data_range
from warden.report.page import render_page, write


def build_report(settings: WardenSettings, out: Path, start: str | None = None, end: str | None = None,
                 dashboards_dir: Path = DASHBOARDS_DIR) -> tuple[Path, int, int]:
    """Write the report; returns (its absolute path, panels with data, panels)."""
    when = data_range(settings)
    if start or end:
        when = TimeRange(utc(start) if start else when.start, utc(end) if end else when.end)
    results = collect(settings, load_all(dashboards_dir), when)
    path = write(out, render_page(results, when, settings.ledger_url))
    drawn = sum(p.has_data for r in results for p in r.panels)
    return path, drawn, sum(len(r.panels) for r in results)
