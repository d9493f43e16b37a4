"""Grafana's side of a panel query, done the way Grafana and the ClickHouse plugin (v4) do it.

The plugin expands ``$__conditionalAll(cond, $var)`` (``1=1`` when the variable is "All") in the
browser, Grafana then substitutes template variables (``$var``, ``${var}``, ``${var:singlequote}``,
"All" meaning every option of the variable), and the plugin's backend expands the time macros
(``$__timeFilter(col)``, ``$__timeInterval(col)``, ``$__fromTime``...) with Unix seconds. The
report and the tests call ``render`` so that they run exactly the SQL Grafana would send.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from warden.core.errors import ConfigError

ALL = "$__all"
NICE_INTERVALS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200,
                    86400, 604800)
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)")
_TIME_MACRO = re.compile(r"\$__(timeFilter_ms|timeFilter|dateFilter|timeInterval_ms|timeInterval)\(([^()]*)\)")


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    max_data_points: int = 120

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ConfigError("a time range needs timezone-aware datetimes (UTC)")
        if self.end <= self.start:
            raise ConfigError(f"time range ends ({self.end:%Y-%m-%dT%H:%M:%SZ}) before it starts "
                              f"({self.start:%Y-%m-%dT%H:%M:%SZ})")

    @property
    def from_s(self) -> int:
        return math.floor(self.start.timestamp())

    @property
    def to_s(self) -> int:
        return math.ceil(self.end.timestamp())

    @property
    def interval_s(self) -> int:
        """Grafana's $__interval: the range over the panel's data points, rounded up to a round step."""
        wanted = (self.end - self.start).total_seconds() / self.max_data_points
        return next((s for s in NICE_INTERVALS_S if s >= wanted), NICE_INTERVALS_S[-1])


Selection = Mapping[str, Sequence[str] | None]  # variable -> chosen values; None (or [ALL]) means "All"


def _is_all(selection: Selection, name: str) -> bool:
    chosen = selection.get(name)
    return chosen is None or ALL in chosen


def _conditional_all(sql: str, selection: Selection) -> str:
    marker = "$__conditionalAll("
    while (start := sql.find(marker)) >= 0:
        depth, end = 1, start + len(marker)
        while end < len(sql) and depth:
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        if depth:
            raise ConfigError(f"unbalanced parentheses in $__conditionalAll at: {sql[start:start + 80]!r}")
        inner = sql[start + len(marker):end - 1]
        condition, _, variable = inner.rpartition(",")
        name = variable.strip().lstrip("$").strip("{}")
        replacement = "1=1" if _is_all(selection, name) else condition.strip()
        sql = sql[:start] + replacement + sql[end:]
    return sql


def _format(values: Sequence[str], how: str | None) -> str:
    if how == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if how == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if how in (None, "csv", "raw"):
        return ",".join(values)
    raise ConfigError(f"variable format {how!r} is not supported here (use singlequote, doublequote, csv or raw)")


def render(sql: str, when: TimeRange, selection: Selection | None = None,
           options: Mapping[str, Sequence[str]] | None = None) -> str:
    """The SQL Grafana sends for ``sql`` over ``when`` with variables chosen as in ``selection``.

    ``options`` holds every value of each variable (what "All" expands to, as Grafana does when a
    variable has no custom all-value); a variable with no options expands to an empty string.
    """
    selection = selection or {}
    options = options or {}
    sql = _conditional_all(sql, selection)

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3) or match.group(5)
        how = match.group(2) or match.group(4)
        if name.startswith("__") or (name not in selection and name not in options):
            return match.group(0)  # a macro, or not a template variable: left for the next stage
        values = list(options.get(name, [])) if _is_all(selection, name) else list(selection[name] or [])
        return _format(values, how)

    sql = _VARIABLE.sub(variable, sql)

    def time_macro(match: re.Match[str]) -> str:
        name, column = match.group(1), match.group(2).strip()
        if not column:
            raise ConfigError(f"$__{name}() needs a column")
        if name == "timeFilter":
            return f"{column} >= toDateTime({when.from_s}) AND {column} <= toDateTime({when.to_s})"
        if name == "timeFilter_ms":
            start_ms, end_ms = int(when.start.timestamp() * 1000), int(when.end.timestamp() * 1000)
            return (f"{column} >= fromUnixTimestamp64Milli({start_ms}) "
                    f"AND {column} <= fromUnixTimestamp64Milli({end_ms})")
        if name == "dateFilter":
            return f"{column} >= toDate('{when.start:%Y-%m-%d}') AND {column} <= toDate('{when.end:%Y-%m-%d}')"
        if name == "timeInterval":
            return f"toStartOfInterval(toDateTime({column}), INTERVAL {when.interval_s} second)"
        return f"toStartOfInterval(toDateTime64({column}, 3), INTERVAL {when.interval_s * 1000} millisecond)"

    sql = _TIME_MACRO.sub(time_macro, sql)
    sql = (sql.replace("$__fromTime_ms", f"fromUnixTimestamp64Milli({int(when.start.timestamp() * 1000)})")
              .replace("$__toTime_ms", f"fromUnixTimestamp64Milli({int(when.end.timestamp() * 1000)})")
              .replace("$__fromTime", f"toDateTime({when.from_s})")
              .replace("$__toTime", f"toDateTime({when.to_s})")
              .replace("$__interval_s", str(when.interval_s)))
    leftover = re.search(r"\$__\w+", sql)
    if leftover:
        raise ConfigError(f"unknown Grafana macro {leftover.group(0)} in panel SQL")
    return sql


def utc(text: str) -> datetime:
    """An ISO-8601 time from the command line or the ledger, as an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"expected an ISO-8601 time like 2026-11-26T08:00:00Z, got {text!r}") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
