"""Panels drawn as inline SVG on the server side: the page needs no script, no font and no network.

Each drawn datum carries the class ``mark`` (a point, a bar, a slice, a table row, a stat value) so a
browser test can tell a chart that has data from an empty frame.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from warden.dashboards.model import Panel
from warden.dashboards.targets import Colour, Goal

PALETTE = ("#3274d9", "#e0752d", "#56a64b", "#c4162a", "#8f3bb8", "#f2cc0c", "#1f9e89", "#7a6c5d", "#de5b94",
           "#2f4b7c")
W, H = 560, 240
PAD_L, PAD_R, PAD_T, PAD_B = 56, 12, 12, 28


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "∅"  # as the CLI prints a figure not known (README "Rollouts"; warden.rollout.gates.UNKNOWN)
    if not is_number(value):
        return str(value)
    if unit == "percentunit":
        return f"{value * 100:.1f}%"
    if unit == "currencyUSD":
        return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"
    if unit == "s":
        return f"{value:,.1f} s"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"


def _numeric_columns(columns: Sequence[str], rows: Sequence[Sequence[Any]], skip: set[int]) -> list[int]:
    return [i for i in range(len(columns)) if i not in skip
            and any(is_number(r[i]) for r in rows) and all(r[i] is None or is_number(r[i]) for r in rows)]


def _label_column(columns: Sequence[str], rows: Sequence[Sequence[Any]], skip: set[int]) -> int | None:
    return next((i for i in range(len(columns)) if i not in skip and any(isinstance(r[i], str) for r in rows)), None)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    text = str(value).replace("Z", "+00:00").replace(" ", "T")
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _legend(names: Sequence[str]) -> str:
    items = "".join(f'<span class="key"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{escape(n)}</span>'
                    for i, n in enumerate(names))
    return f'<div class="legend">{items}</div>'


def _axis_y(top: float, unit: str) -> str:
    out = []
    for k in range(5):
        value = top * k / 4
        y = PAD_T + (H - PAD_T - PAD_B) * (1 - k / 4)
        out.append(f'<line class="grid" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value, unit))}'
                   "</text>")
    return "".join(out)


def _nice_top(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    return next(m * exp for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * exp >= value)


def timeseries(panel: Panel, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Long or wide frames, as Grafana reads them: time first, string columns label the series."""
    label = _label_column(columns, rows, {0})
    values = _numeric_columns(columns, rows, {0} | ({label} if label is not None else set()))
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        t = _epoch(row[0])
        for v in values:
            if row[v] is None:
                continue
            name = str(row[label]) if label is not None else columns[v]
            if label is not None and len(values) > 1:
                name = f"{name} {columns[v]}"
            series.setdefault(name, []).append((t, float(row[v])))
    if not series:
        return ""
    t0 = min(t for pts in series.values() for t, _ in pts)
    t1 = max(t for pts in series.values() for t, _ in pts)
    span = (t1 - t0) or 1.0
    bounds = _bounds(panel.goal)
    top = _nice_top(max([max(v for _, v in pts) for pts in series.values()] + [b for b, _ in bounds]))
    x = lambda t: PAD_L + (W - PAD_L - PAD_R) * (t - t0) / span  # noqa: E731
    y = lambda v: PAD_T + (H - PAD_T - PAD_B) * (1 - v / top)  # noqa: E731
    parts = [_axis_y(top, panel.unit)]
    for bound, colour in bounds:  # Grafana's dashed threshold lines, in the colour past them
        parts.append(f'<line class="target {colour}" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(bound):.1f}" '
                     f'y2="{y(bound):.1f}"><title>{escape(panel.goal.text() if panel.goal else "")}</title></line>')
    for k in range(3):
        t = t0 + span * k / 2
        anchor = ("start", "middle", "end")[k]
        parts.append(f'<text class="tick" x="{x(t):.1f}" y="{H - 8}" text-anchor="{anchor}">'
                     f"{datetime.fromtimestamp(t, UTC):%m-%d %H:%M}</text>")
    for i, (name, points) in enumerate(sorted(series.items())):
        color = PALETTE[i % len(PALETTE)]
        points.sort()
        path = " ".join(f"{'M' if j == 0 else 'L'}{x(t):.1f},{y(v):.1f}" for j, (t, v) in enumerate(points))
        parts.append(f'<path class="line" d="{path}" stroke="{color}"/>')
        radius = 2 if len(points) > 1 else 4  # a lone point has no line to show it
        for t, value in points:
            parts.append(f'<circle class="mark" cx="{x(t):.1f}" cy="{y(value):.1f}" r="{radius}" fill="{color}">'
                         f"<title>{escape(name)} {datetime.fromtimestamp(t, UTC):%Y-%m-%d %H:%M} UTC: "
                         f"{escape(fmt(value, panel.unit))}</title></circle>")
    return _svg(parts) + _legend(sorted(series))


def _short(text: str, most: int) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


def _bounds(goal: Goal | None) -> list[tuple[float, str]]:
    """The target's bounds, each with the colour of a miss beyond it."""
    if goal is None:
        return []
    return [(b, Colour.RED.value) for b in (goal.low, goal.high) if b is not None]


def barchart(panel: Panel, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Horizontal grouped bars: the first string column names the bars, each numeric column is a series."""
    label = _label_column(columns, rows, set())
    values = _numeric_columns(columns, rows, {label} if label is not None else set())
    if label is None or not values:
        return ""
    rows = [r for r in rows if any(is_number(r[v]) for v in values)][:15]
    if not rows:
        return ""
    top = _nice_top(max(float(r[v]) for r in rows for v in values if is_number(r[v])))
    names = [str(r[label]) for r in rows]
    label_w = float(min(230, max(90, 6 * max(len(n) for n in names) + 12)))  # 11px labels: ~6px a character
    band = 22 * len(values) + 8
    height = PAD_T + band * len(rows) + 8
    scale = (W - label_w - 70) / top
    parts = []
    for i, row in enumerate(rows):
        y0 = PAD_T + i * band
        parts.append(f'<text class="cat" x="{label_w - 6}" y="{y0 + band / 2 + 4:.1f}" text-anchor="end">'
                     f"{escape(_short(str(row[label]), 36))}<title>{escape(str(row[label]))}</title></text>")
        for j, v in enumerate(values):
            value = float(row[v]) if is_number(row[v]) else 0.0
            yb = y0 + 4 + j * 22
            width = max(value * scale, 1.0)
            parts.append(f'<rect class="mark" x="{label_w}" y="{yb}" width="{width:.1f}" height="18" '
                         f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(str(row[label]))} {escape(columns[v])}: '
                         f"{escape(fmt(row[v], panel.unit))}</title></rect>"
                         f'<text class="val" x="{label_w + width + 4:.1f}" y="{yb + 13}">'
                         f"{escape(fmt(row[v], panel.unit))}</text>")
    legend = _legend([columns[v] for v in values]) if len(values) > 1 else ""
    return _svg(parts, height) + legend


def piechart(panel: Panel, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    label = _label_column(columns, rows, set())
    values = _numeric_columns(columns, rows, {label} if label is not None else set())
    if label is None or not values:
        return ""
    items = [(str(r[label]), float(r[values[0]])) for r in rows if is_number(r[values[0]]) and r[values[0]] > 0]
    total = sum(v for _, v in items)
    if not total:
        return ""
    cx, cy, radius, inner = 120, 110, 95, 55
    parts, angle = [], -math.pi / 2
    for i, (name, value) in enumerate(items):
        sweep = 2 * math.pi * value / total
        if len(items) == 1:
            sweep = 2 * math.pi - 1e-4
        a0, a1 = angle, angle + sweep
        large = 1 if sweep > math.pi else 0
        p = lambda a, r: f"{cx + r * math.cos(a):.2f},{cy + r * math.sin(a):.2f}"  # noqa: E731
        path = (f"M{p(a0, radius)} A{radius},{radius} 0 {large} 1 {p(a1, radius)} "
                f"L{p(a1, inner)} A{inner},{inner} 0 {large} 0 {p(a0, inner)} Z")
        parts.append(f'<path class="mark slice" d="{path}" fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(name)}: '
                     f"{escape(fmt(value, panel.unit))} ({value / total:.0%})</title></path>")
        parts.append(f'<text class="val" x="260" y="{40 + i * 22}"><tspan fill="{PALETTE[i % len(PALETTE)]}">■</tspan> '
                     f"{escape(name)}: {escape(fmt(value, panel.unit))} ({value / total:.0%})</text>")
        angle = a1
    return _svg(parts, 230)


def stat(panel: Panel, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The value in its target's colour (as Grafana's thresholds colour it) with the target beside it."""
    value = next((v for row in rows for v in row if v is not None), None)
    if value is None:
        return ""
    goal = panel.goal
    colour = goal.colour(float(value)) if goal is not None and is_number(value) else None
    verdict = {Colour.GREEN: "met", Colour.AMBER: "narrowly missed", Colour.RED: "missed"}.get(colour, "") \
        if colour else ""
    target = (f'<div class="target-text {colour.value if colour else ""}">{escape(goal.text())}'
              f'{": " + verdict if verdict else ""}</div>') if goal is not None else ""
    css = f"stat mark {colour.value}" if colour else "stat mark neutral"
    if not is_number(value):
        css += " text"  # a version or a name: smaller than a figure
    return (f'<div class="{css}" data-colour="{colour.value if colour else "none"}">{escape(fmt(value, panel.unit))}'
            f'</div>{target}<div class="stat-name">{escape(columns[0])}</div>')


def table(panel: Panel, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr class=\"mark\">" + "".join(_cell(v, panel.unit) for v in row) + "</tr>" for row in rows[:50])
    more = f'<p class="more">{len(rows) - 50} more rows not shown</p>' if len(rows) > 50 else ""
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{more}'


_ISO_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?Z?$")
SHORT_CELL = 32  # characters: a shorter value never wraps; a longer one wraps anywhere, so a table fits the page


def _cell(value: Any, unit: str) -> str:
    if is_number(value):
        return f'<td class="num">{escape(fmt(value, unit))}</td>'
    text = fmt(value)
    moment = _ISO_TIME.match(text)
    if moment:
        text = f"{moment.group(1)} {moment.group(2)}"
    return f'<td class="{"short" if len(text) <= SHORT_CELL else "long"}">{escape(text)}</td>'


def _svg(parts: list[str], height: int = H) -> str:
    return (f'<svg class="chart" viewBox="0 0 {W} {height}" width="100%" role="img" '
            f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>')


DRAW = {"timeseries": timeseries, "barchart": barchart, "piechart": piechart, "stat": stat, "table": table}


def draw(panel: Panel, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The panel's SVG or HTML; empty when there is nothing to draw."""
    return DRAW.get(panel.type, table)(panel, columns, rows)
