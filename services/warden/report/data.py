"""Run every dashboard panel's SQL against the ledger, exactly as Grafana would send it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from warden.core.errors import WardenError
from warden.core.settings import WardenSettings
from warden.dashboards.macros import Selection, TimeRange, render, utc
from warden.dashboards.model import Dashboard, Panel
from warden.ledger import access

Query = access.Result


@dataclass
class PanelResult:
    panel: Panel
    sql: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def has_data(self) -> bool:
        """At least one row with a value: a stat over no rows still returns one row of NULL."""
        return self.error is None and any(v is not None for row in self.rows for v in row)


@dataclass
class DashboardResult:
    dashboard: Dashboard
    options: dict[str, list[str]]
    panels: list[PanelResult]


def plain(value: Any) -> Any:
    """JSON-friendly values whichever way the ledger was reached (endpoint JSON or chDB directly)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def data_range(settings: WardenSettings, now: datetime | None = None) -> TimeRange:
    """From the first recorded event to now (or the last event, if it lies later): all of the data."""
    now = now or datetime.now(UTC)
    _, rows = access.query(settings, "SELECT toString(min(occurred_at)), toString(max(occurred_at)), count() "
                                     "FROM warden.agent_events")
    first, last, count = rows[0] if rows else (None, None, 0)
    if not count:
        return TimeRange(now - timedelta(hours=6), now)
    start, end = utc(str(first)), max(utc(str(last)), now)
    return TimeRange(start - timedelta(seconds=1), end + timedelta(seconds=1))


def variable_options(settings: WardenSettings, dashboard: Dashboard, when: TimeRange,
                     selection: Selection) -> dict[str, list[str]]:
    """Each variable's values, in order, as Grafana lists them (a later variable may depend on an earlier)."""
    options: dict[str, list[str]] = {}
    for variable in dashboard.variables:
        _, rows = access.query(settings, render(variable.sql, when, selection, options))
        options[variable.name] = [str(r[0]) for r in rows if r and r[0] is not None]
    return options


def run_panel(settings: WardenSettings, panel: Panel, when: TimeRange, selection: Selection,
              options: Mapping[str, Sequence[str]]) -> PanelResult:
    sql = render(panel.sql, when, selection, options)
    result = PanelResult(panel, sql)
    try:
        columns, rows = access.query(settings, sql)
    except WardenError as exc:
        result.error = str(exc)
        return result
    result.columns = list(columns)
    result.rows = [[plain(v) for v in row] for row in rows]
    return result


def collect(settings: WardenSettings, dashboards: Sequence[Dashboard], when: TimeRange,
            selection: Selection | None = None) -> list[DashboardResult]:
    selection = selection or {}
    out = []
    for dashboard in dashboards:
        options = variable_options(settings, dashboard, when, selection)
        panels = [run_panel(settings, panel, when, selection, options) for panel in dashboard.panels]
        out.append(DashboardResult(dashboard, options, panels))
    return out
