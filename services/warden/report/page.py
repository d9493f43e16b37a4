"""One HTML file with everything inline (CSS, SVG): it opens from disk, offline, in any browser."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from warden.core.errors import ConfigError
from warden.dashboards.macros import Selection, TimeRange
from warden.report.charts import draw
from warden.report.data import DashboardResult, PanelResult

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f4f5f7;
       color: #1f2328; }
header { background: #111827; color: #f9fafb; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #cbd5e1; }
main { padding: 8px 28px 40px; }
h2 { margin: 28px 0 4px; font-size: 18px; }
.dash-desc { margin: 0 0 10px; color: #57606a; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 14px; }
.panel { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 12px 14px; margin: 0;
         min-width: 0; }
.panel.wide { grid-column: 1 / -1; }
.panel h3 { margin: 0 0 2px; font-size: 15px; }
.panel .desc { margin: 0 0 8px; color: #57606a; font-size: 12.5px; }
.panel.empty { border-style: dashed; }
.nodata { color: #8c959f; font-style: italic; padding: 24px 0; text-align: center; }
.error { color: #c4162a; white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 12px; }
.stat { font-size: 44px; font-weight: 600; padding: 18px 0 0; overflow-wrap: anywhere; }
.stat.neutral { color: #1f2328; }
.stat.text { font-size: 22px; padding-top: 28px; }
.green { color: #1a7f37; } .amber { color: #b35c00; } .red { color: #c4162a; }
.target-text { font-size: 13px; font-weight: 600; }
svg line.target { stroke-dasharray: 6 4; stroke-width: 1.5; }
svg line.target.red { stroke: #c4162a; }
.stat-name { color: #8c959f; font-size: 12px; }
svg.chart { display: block; overflow: visible; }
svg .grid { stroke: #eaeef2; }
svg .tick, svg .cat, svg .val { font-size: 11px; fill: #57606a; }
svg .cat { fill: #1f2328; }
svg .line { fill: none; stroke-width: 1.8; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-top: 6px; font-size: 12px; color: #57606a; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
.table-wrap { max-height: 420px; overflow-y: auto; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; table-layout: auto; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th, td.num, td.short { white-space: nowrap; }
td.long { white-space: normal; overflow-wrap: anywhere; min-width: 12em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { position: sticky; top: 0; background: #f6f8fa; }
details { margin-top: 6px; font-size: 12px; color: #57606a; }
details pre { white-space: pre-wrap; background: #f6f8fa; padding: 8px; border-radius: 6px; }
.more { color: #8c959f; font-size: 12px; }
footer { padding: 0 28px 28px; color: #8c959f; font-size: 12px; }
"""


def _panel(result: PanelResult) -> str:
    panel = result.panel
    body = ""
    if result.error is not None:
        body = f'<div class="error">query failed: {escape(result.error)}</div>'
    elif result.has_data:
        body = draw(panel, result.columns, result.rows)
    drawn = bool(body) and result.error is None
    if not body:
        body = '<div class="nodata">no data in this range</div>'
    wide = " wide" if panel.type == "table" else ""
    empty = "" if drawn else " empty"
    return (f'<figure class="panel{wide}{empty}" data-panel="{escape(panel.title)}" data-type="{panel.type}" '
            f'data-rows="{len(result.rows)}" data-has-data="{str(drawn).lower()}">'
            f"<h3>{escape(panel.title)}</h3><p class=\"desc\">{escape(panel.description)}</p>{body}"
            f"<details><summary>SQL</summary><pre>{escape(result.sql)}</pre></details></figure>")


def render_page(results: Sequence[DashboardResult], when: TimeRange, source: str,
                selection: Selection | None = None, generated_at: datetime | None = None,
                extra: Sequence[str] = ()) -> str:
    """`extra`: sections already rendered (the weekly cost per outcome), placed after the dashboards'."""
    generated_at = generated_at or datetime.now(UTC)
    selection = selection or {}
    sections = []
    for result in results:
        board = result.dashboard
        filters = ", ".join(
            f"{name}: {', '.join(selection.get(name) or [])}" if selection.get(name) else f"{name}: All ({len(values)})"
            for name, values in result.options.items())
        panels = "".join(_panel(p) for p in result.panels)
        sections.append(f'<section data-dashboard="{escape(board.uid)}"><h2>{escape(board.title)}</h2>'
                        f'<p class="dash-desc">{escape(board.description)} <em>{escape(filters)}</em></p>'
                        f'<div class="grid">{panels}</div></section>')
    drawn = sum(p.has_data for r in results for p in r.panels)
    total = sum(len(r.panels) for r in results)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>Warden report {when.start:%Y-%m-%d %H:%M} to {when.end:%Y-%m-%d %H:%M} UTC</title>"
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>Warden report</h1><p>{when.start:%Y-%m-%d %H:%M:%S} to {when.end:%Y-%m-%d %H:%M:%S} UTC · "
        f"ledger {escape(source)} · {drawn} of {total} panels with data · generated "
        f"{generated_at:%Y-%m-%d %H:%M:%S} UTC</p></header>"
        f"<main>{''.join(sections)}{''.join(extra)}</main>"
        "<footer>The same SQL as the Grafana dashboards in dashboards/, variables chosen as shown per dashboard. "
        "Made by <code>warden report</code>; self-contained, no network needed.</footer></body></html>\n"
    )


def write(path: Path, html: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {path}: {exc}") from exc
    return path.resolve()
