"""Build the report file: the data's time range, every dashboard's panels, one HTML page."""

from __future__ import annotations

from pathlib import Path

from warden.core.settings import WardenSettings
from warden.dashboards.build import dashboards
from warden.dashboards.macros import Selection, TimeRange, utc
from warden.dashboards.model import DASHBOARDS_DIR
from warden.report.data import collect, data_range
from warden.report.page import render_page, write
from warden.report.weekly import weekly_section


def build_report(settings: WardenSettings, out: Path, start: str | None = None, end: str | None = None,
                 dashboards_dir: Path = DASHBOARDS_DIR, selection: Selection | None = None) -> tuple[Path, int, int]:
    """Write the report; returns (its absolute path, panels with data, panels).

    ``selection`` chooses dashboard variables as in Grafana (e.g. {"tenant": ["acme"]}); unset means All.
    """
    when = data_range(settings)
    if start or end:
        when = TimeRange(utc(start) if start else when.start, utc(end) if end else when.end)
    results = collect(settings, dashboards(directory=dashboards_dir), when, selection)
    extra = [weekly_section(settings, when.end)]
    path = write(out, render_page(results, when, settings.ledger_url, selection, extra=extra))
    drawn = sum(p.has_data for r in results for p in r.panels)
    return path, drawn, sum(len(r.panels) for r in results)
