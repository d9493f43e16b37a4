"""Weekly cost per successful outcome (`warden cost weekly`, the report's section), and what drove a rise.

Periods are the cost-regression ticket's (policies/budgets.toml [regression] period_hours, 168: weeks
counted from the Unix epoch, as warden.cost.tracker counts them), so a ticket's figures are this table's.
Definitions (the tracker's and warden.core.metrics'):
- per workflow   all spend ÷ succeeded runs
- per route      the spend of the runs run.route gave that route (every route they went on to) ÷ their
                 successes ("(no route)": runs with no routing decision)
- per model      the spend on that model ÷ the workflow's succeeded runs: its share of the workflow's figure

For a workflow whose figure rose more than the regression threshold over the previous period, each driver
is shown before and after, with its effect: how much lower this period's figure would be with that one
driver at last period's value and the rest as they are (one at a time, so the effects need not add up
to the rise). The SDK cache's hit rate is read from the rollups' `cache_hits` when the ledger has that column
(the SDK cache's, issue 17 point 3); a ledger without it says "not recorded", never a guess.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from warden.cost.prices import PriceTable
from warden.cost.windows import from_millis

NOT_RECORDED = "not recorded"
PERIOD_MS = 7 * 24 * 3_600_000


def _period(period_ms: int) -> str:
    return f"intDiv(toUnixTimestamp64Milli(window_start), {period_ms})"


def run_rows_sql(database: str, period_ms: int, first: int) -> str:
    return (f"SELECT {_period(period_ms)} AS p, workflow, route, sum(runs_completed), sum(runs_succeeded), "
            f"sum(runs_escalated), sum(run_cost_usd) FROM {database}.cost_rollups WHERE window = '1m' AND model = '' "
            f"AND {_period(period_ms)} >= {first} GROUP BY p, workflow, route ORDER BY p, workflow, route")


def cache_column_sql(database: str) -> str:
    """Whether the ledger's cost rollups record SDK cache hits (a column of a later migration)."""
    return (f"SELECT count() FROM system.columns WHERE database = '{database}' AND table = 'cost_rollups' "
            "AND name = 'cache_hits'")


def call_rows_sql(database: str, period_ms: int, first: int, cache: bool = False) -> str:
    hits = "sum(cache_hits)" if cache else "-1"  # -1: not recorded
    return (f"SELECT {_period(period_ms)} AS p, workflow, model, route, price_version, sum(cost_usd), sum(calls), "
            f"sum(input_tokens), sum(output_tokens), sum(cached_tokens), {hits} FROM {database}.cost_rollups "
            f"WHERE window = '1m' AND model != '' AND {_period(period_ms)} >= {first} "
            f"GROUP BY p, workflow, model, route, price_version ORDER BY p, workflow, model, route, price_version")


@dataclass
class RouteRuns:
    completed: int = 0
    succeeded: int = 0
    escalated: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class CallRow:
    model: str
    route: str
    price_version: str
    cost_usd: float
    calls: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_hits: int = -1  # -1: the ledger does not record SDK cache hits


@dataclass
class Period:
    index: int
    routes: dict[str, RouteRuns] = field(default_factory=dict)
    calls: list[CallRow] = field(default_factory=list)

    @property
    def spend_usd(self) -> float:
        return sum(c.cost_usd for c in self.calls)

    @property
    def completed(self) -> int:
        return sum(r.completed for r in self.routes.values())

    @property
    def succeeded(self) -> int:
        return sum(r.succeeded for r in self.routes.values())

    @property
    def per_success(self) -> float | None:
        return self.spend_usd / self.succeeded if self.succeeded else None

    @property
    def tokens_per_run(self) -> float | None:
        tokens = sum(c.input_tokens + c.output_tokens for c in self.calls)
        return tokens / self.completed if self.completed else None

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.completed if self.completed else None

    @property
    def prompt_cache_share(self) -> float | None:
        inputs = sum(c.input_tokens for c in self.calls)
        return sum(c.cached_tokens for c in self.calls) / inputs if inputs else None

    @property
    def cache_hit_rate(self) -> float | None:
        """SDK cache hits ÷ llm calls (a hit is a call served from the cache); None: not recorded or no calls."""
        if not self.calls or any(c.cache_hits < 0 for c in self.calls):
            return None
        calls = sum(c.calls for c in self.calls)
        return sum(c.cache_hits for c in self.calls) / calls if calls else None

    @property
    def cache_recorded(self) -> bool:
        return bool(self.calls) and all(c.cache_hits >= 0 for c in self.calls)

    @property
    def versions(self) -> str:
        return ",".join(sorted({v for c in self.calls for v in c.price_version.split(",") if v})) or "-"

    def route_mix(self) -> dict[str, float]:
        total = self.completed
        return {r: v.completed / total for r, v in self.routes.items()} if total else {}


def periods(run_rows: list[list[Any]], call_rows: list[list[Any]]) -> dict[str, dict[int, Period]]:
    """Per workflow, its periods by index, from the two queries' rows."""
    out: dict[str, dict[int, Period]] = defaultdict(dict)
    for p, workflow, route, completed, succeeded, escalated, cost in run_rows:
        period = out[str(workflow)].setdefault(int(p), Period(int(p)))
        period.routes[str(route)] = RouteRuns(int(completed), int(succeeded), int(escalated), float(cost or 0.0))
    for p, workflow, model, route, version, cost, calls, inp, outp, cached, hits in call_rows:
        period = out[str(workflow)].setdefault(int(p), Period(int(p)))
        period.calls.append(CallRow(str(model), str(route), str(version), float(cost or 0.0), int(calls), int(inp),
                                    int(outp), int(cached), int(hits)))
    return dict(out)


@dataclass(frozen=True)
class Figure:
    workflow: str
    scope: str  # "all", "route <name>", "model <name>"
    period: int
    value: float | None  # USD per successful outcome (or the model's share of it)
    previous: float | None

    @property
    def change(self) -> float | None:
        if self.value is None or not self.previous:
            return None
        return self.value / self.previous - 1


def figures(by_workflow: dict[str, dict[int, Period]]) -> list[Figure]:
    out = []
    for workflow, by_index in sorted(by_workflow.items()):
        for index in sorted(by_index):
            now, before = by_index[index], by_index.get(index - 1)
            out.append(Figure(workflow, "all", index, now.per_success, before.per_success if before else None))
            for route in sorted(set(now.routes) | (set(before.routes) if before else set())):
                out.append(Figure(workflow, f"route {route or '(no route)'}", index, _route_cps(now, route),
                                  _route_cps(before, route) if before else None))
            for model in sorted({c.model for c in now.calls} | ({c.model for c in before.calls} if before else set())):
                out.append(Figure(workflow, f"model {model}", index, _model_share(now, model),
                                  _model_share(before, model) if before else None))
    return out


def _route_cps(period: Period, route: str) -> float | None:
    runs = period.routes.get(route)
    return runs.cost_usd / runs.succeeded if runs and runs.succeeded else None


def _model_share(period: Period, model: str) -> float | None:
    return sum(c.cost_usd for c in period.calls if c.model == model) / period.succeeded if period.succeeded else None


@dataclass(frozen=True)
class Driver:
    name: str
    before: str
    after: str
    effect_usd: float | None  # this period's figure minus the figure with this driver at last period's value


@dataclass(frozen=True)
class Rise:
    workflow: str
    period: int
    previous_usd: float
    current_usd: float
    drivers: list[Driver]

    @property
    def change(self) -> float:
        return self.current_usd / self.previous_usd - 1


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _mix(period: Period) -> str:
    return ", ".join(f"{r or '(no route)'} {s:.0%}" for r, s in sorted(period.route_mix().items())) or "-"


def drivers(before: Period, now: Period, prices: PriceTable, period_ms: int) -> list[Driver]:
    cps = now.per_success
    assert cps is not None and now.succeeded
    out = [Driver("volume (completed runs)", _num(before.completed), _num(now.completed), None)]
    rate_a, rate_b = before.success_rate, now.success_rate
    out.append(Driver("success rate", _pct(rate_a), _pct(rate_b),
                      cps - now.spend_usd / (now.completed * rate_a) if rate_a else None))
    out.append(Driver("route mix (share of runs)", _mix(before), _mix(now), _mix_effect(before, now)))
    tpr_a, tpr_b = before.tokens_per_run, now.tokens_per_run
    out.append(Driver("tokens per run", _num(tpr_a), _num(tpr_b),
                      cps * (1 - tpr_a / tpr_b) if tpr_a is not None and tpr_b else None))
    out.append(Driver("price version", before.versions, now.versions, _price_effect(before, now, prices, period_ms)))
    out.append(Driver("prompt-cache share of input tokens", _pct(before.prompt_cache_share),
                      _pct(now.prompt_cache_share), _cache_effect(before, now, prices, period_ms)))
    out.append(_cache_hits(before, now, cps))
    return out


def _cache_hits(before: Period, now: Period, cps: float) -> Driver:
    """A hit calls no model: with last period's hit rate, this period's spend on calls would scale by
    (1 - rate before) / (1 - rate now), the rest as it is."""
    if not (before.cache_recorded and now.cache_recorded):
        return Driver("SDK cache hit rate", NOT_RECORDED if not before.cache_recorded else _pct(before.cache_hit_rate),
                      NOT_RECORDED if not now.cache_recorded else _pct(now.cache_hit_rate), None)
    rate_a, rate_b = before.cache_hit_rate, now.cache_hit_rate
    effect = None if rate_a is None or rate_b is None or rate_b >= 1 else cps * (1 - (1 - rate_a) / (1 - rate_b))
    return Driver("SDK cache hit rate", _pct(rate_a), _pct(rate_b), effect)


def _mix_effect(before: Period, now: Period) -> float | None:
    """The runs' figure with last period's route shares and this period's per-route cost and success."""
    shared = [r for r in now.routes if r in before.routes and now.routes[r].completed]
    if len(shared) < 2 or not before.completed:
        return 0.0 if len(set(now.routes) | set(before.routes)) == 1 else None
    mix = before.route_mix()
    cost = sum(mix[r] * now.routes[r].cost_usd / now.routes[r].completed for r in shared)
    success = sum(mix[r] * now.routes[r].succeeded / now.routes[r].completed for r in shared)
    actual = sum(now.routes[r].cost_usd for r in now.routes) / now.succeeded
    return actual - cost / success if success else None


def _repriced(rows: list[CallRow], at: datetime, prices: PriceTable, cache_share: float | None = None) -> float | None:
    """The rows' spend at the price version in force at `at` (and, given, with that prompt-cache share)."""
    version = prices.version_at(at)
    if version is None:
        return None
    total = 0.0
    for row in rows:
        price = version.models.get(row.model)
        if price is None or row.price_version in ("", "reported", "unknown"):
            total += row.cost_usd  # reported or unpriced: kept as it was
            continue
        cached = row.cached_tokens if cache_share is None else min(row.input_tokens,
                                                                   round(row.input_tokens * cache_share))
        total += price.cost(row.input_tokens, row.output_tokens, cached)
    return total


def _bounds(period: Period, period_ms: int) -> tuple[datetime, datetime]:
    return from_millis(period.index * period_ms), from_millis((period.index + 1) * period_ms - 1)


def _price_effect(before: Period, now: Period, prices: PriceTable, period_ms: int) -> float | None:
    then = _repriced(now.calls, _bounds(before, period_ms)[1], prices)
    here = _repriced(now.calls, _bounds(now, period_ms)[1], prices)
    if then is None or here is None:
        return None
    return (here - then) / now.succeeded


def _cache_effect(before: Period, now: Period, prices: PriceTable, period_ms: int) -> float | None:
    share = before.prompt_cache_share
    at = _bounds(now, period_ms)[1]
    here, then = _repriced(now.calls, at, prices), _repriced(now.calls, at, prices, share)
    if share is None or here is None or then is None:
        return None
    return (here - then) / now.succeeded


def rises(by_workflow: dict[str, dict[int, Period]], prices: PriceTable, threshold: float,
          period_ms: int = PERIOD_MS) -> list[Rise]:
    """Every workflow period whose figure rose more than `threshold` over the period before it."""
    out = []
    for workflow, by_index in sorted(by_workflow.items()):
        for index in sorted(by_index):
            now, before = by_index[index], by_index.get(index - 1)
            if before is None or not before.per_success or now.per_success is None:
                continue
            if now.per_success > before.per_success * (1 + threshold):
                out.append(Rise(workflow, index, before.per_success, now.per_success,
                                drivers(before, now, prices, period_ms)))
    return out


def period_start(index: int, period_ms: int = PERIOD_MS) -> datetime:
    return from_millis(index * period_ms)
