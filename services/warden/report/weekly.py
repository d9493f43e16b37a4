"""The report's "Weekly cost per successful outcome" section: `warden cost weekly` as HTML tables.

The cost-regression ticket points here (warden.cost.tracker.BREAKDOWN); the figures and drivers are
warden.cost.weekly's, read from the same rollups as the command.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from warden.core.errors import WardenError
from warden.core.settings import WardenSettings
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.cost.weekly import Figure, Rise, period_start
from warden.ledger import cost_report as report

TITLE = "Weekly cost per successful outcome"


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join('<tr class="mark">' + "".join(
        f'<td class="{"num" if i in numeric else "short"}">{escape(v)}</td>' for i, v in enumerate(row)) + "</tr>"
        for row in rows)
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.4f}"


def render(shown: list[Figure], rises: list[Rise], config: BudgetConfig) -> str:
    size = config.regression_period_ms
    rows = [[f.workflow, f.scope, f"{period_start(f.period, size):%Y-%m-%d}", _usd(f.value), _usd(f.previous),
             "-" if f.change is None else f"{f.change:+.0%}"] for f in shown]
    # <div>, not <figure>: the report's figures are the dashboards' panels, one each
    panels = [f'<div class="panel wide" data-weekly="cost per successful outcome"><h3>Per workflow, route and '
              f"model</h3><p class=\"desc\">Periods of {size / 3_600_000:g} h as the cost-regression ticket's; model "
              "rows: that model's spend divided by the workflow's successes.</p>"
              + (_table(["workflow", "scope", "period from", "cost per success", "previous", "change"], rows,
                        {3, 4, 5}) if rows else '<div class="nodata">no cost rollups in these periods</div>')
              + "</div>"]
    for rise in rises:
        drivers = [[d.name, d.before, d.after, "-" if d.effect_usd is None else f"{d.effect_usd:+.4f}"]
                   for d in rise.drivers]
        panels.append(
            f'<div class="panel wide" data-weekly="rise {escape(rise.workflow)}"><h3>{escape(rise.workflow)}: '
            f"{_usd(rise.previous_usd)} to {_usd(rise.current_usd)} ({rise.change:+.0%}), period from "
            f"{period_start(rise.period, size):%Y-%m-%d}</h3><p class=\"desc\">Each driver before and after; effect: "
            "how much lower the figure would be with that driver as in the previous period (one at a time).</p>"
            + _table(["driver", "previous period", "this period", "effect on cost per success ($)"], drivers, {3})
            + "</div>")
    if not rises:
        panels.append(f'<p class="dash-desc">No rise over {config.regression_threshold:.0%} in these periods.</p>')
    return section("".join(panels))


def section(body: str) -> str:
    return (f'<section data-section="weekly-cost"><h2>{TITLE}</h2><p class="dash-desc">warden cost weekly: for '
            f"every rise over the regression threshold, what drove it.</p><div class=\"grid\">{body}</div></section>")


def weekly_section(settings: WardenSettings, now: datetime, weeks: int = 4) -> str:
    """The section, or the reason it could not be read (the rest of the report is still written)."""
    try:
        config = BudgetConfig.load()
        shown, rises = report.weekly(settings, PriceTable.load(), config, now, weeks)
    except WardenError as exc:
        return section(f'<div class="error">weekly cost per outcome could not be read: {escape(str(exc))}</div>')
    return render(shown, rises, config)
