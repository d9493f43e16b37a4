"""`warden cost routes` and `warden cost weekly` on a real chDB ledger: the figures equal the definitions
computed from the events themselves, the recommendation follows the evals, and a rise names its drivers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.cost.ledger_fixture import START, WEEK, WEEK_MS, two_weeks
from tests.cost_aggregator.test_routes import expected_by_route
from warden.core.settings import WardenSettings
from warden.core.stats import wilson
from warden.core.workflows import load_contracts
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.ledger import cost_report as report
from warden.ledger.client import Ledger
from warden.routing.policy import load_routing


def settings_for(chdb_url: str, ledger: Ledger) -> WardenSettings:
    return WardenSettings(clickhouse_url=chdb_url, clickhouse_database=ledger.database)


def test_routes_figures_and_the_cheapest_route_meeting_the_target(chdb_url: str, ledger: Ledger) -> None:
    landed = two_weeks(ledger)
    now = START + timedelta(days=14)
    figures, advice = report.routes(settings_for(chdb_url, ledger), START, now, load_routing(), load_contracts())
    want = expected_by_route(landed.events)
    got = {(f.workflow, f.route): f for f in figures}
    for (workflow, route), (completed, succeeded, escalated, spend) in want.items():
        f = got[(workflow, route)]
        assert (f.runs, f.succeeded, f.escalated) == (completed, succeeded, escalated)
        assert f.cost_per_success_usd == pytest.approx(spend / succeeded)
        assert f.interval == wilson(int(succeeded), int(completed))
        assert f.escalation_rate == pytest.approx(escalated / completed)
    total = got[("refund_ticket", "*")]
    assert total.runs == sum(v[0] for k, v in want.items() if k[0] == "refund_ticket")

    by_workflow = {a.workflow: a for a in advice}
    refund = by_workflow["refund_ticket"]
    # gpt-4o-mini passes 40/52 (interval below 90%): the cheapest route meeting the target is default (gpt-4o)
    assert (refund.route, refund.model, refund.target) == ("default", "gpt-4o", 0.9)
    assert refund.cost_per_task_usd == pytest.approx(0.006)
    week_runs = sum(1 for e in landed.events if e.workflow == "refund_ticket" and e.event_type.value == "run_completed"
                    and e.occurred_at >= now - timedelta(days=7))
    assert refund.last_week_runs == week_runs
    assert refund.saving_usd == pytest.approx(refund.last_week_spend_usd - week_runs * 0.006)
    assert by_workflow["triage_ticket"].route == "cheap"  # gpt-4o-mini meets it there
    assert by_workflow["export_report"].route is None and "no eval run" in by_workflow["export_report"].note


def test_weekly_finds_the_rise_and_its_drivers(chdb_url: str, ledger: Ledger) -> None:
    two_weeks(ledger)
    budgets = BudgetConfig.load()
    shown, rises = report.weekly(settings_for(chdb_url, ledger), PriceTable.load(), budgets,
                                 START + timedelta(days=14, hours=1), weeks=3)
    assert budgets.regression_period_ms == WEEK_MS
    overall = {(f.workflow, f.period): f for f in shown if f.scope == "all"}
    refund = overall[("refund_ticket", WEEK + 1)]
    assert refund.change is not None and refund.change > 1.0  # 2.5x the tokens at the same prices
    assert {f.scope for f in shown if f.workflow == "refund_ticket"} >= {"all", "route cheap", "route strong",
                                                                          "model gpt-4o-mini"}
    rise = next(r for r in rises if r.workflow == "refund_ticket")
    assert rise.period == WEEK + 1 and rise.current_usd == pytest.approx(refund.value)
    drivers = {d.name: d for d in rise.drivers}
    tokens = drivers["tokens per run"]
    assert float(tokens.after.replace(",", "")) > 2 * float(tokens.before.replace(",", ""))
    assert tokens.effect_usd is not None and tokens.effect_usd > 0.5 * (rise.current_usd - rise.previous_usd)
    assert drivers["price version"].effect_usd == pytest.approx(0.0, abs=1e-12)  # one version in force
    cache = drivers["SDK cache hit rate"]  # the ledger records hits (migration 0018); these weeks had none
    assert (cache.before, cache.after, cache.effect_usd) == ("0.0%", "0.0%", 0.0)
    assert drivers["volume (completed runs)"].effect_usd is None


def test_cost_check_agrees_on_a_ledger_with_decisions(chdb_url: str, ledger: Ledger) -> None:
    """Decisions are llm_calls with no tokens: the stream counts no call for them, nor may the SQL."""
    two_weeks(ledger)
    result = report.check(settings_for(chdb_url, ledger), PriceTable.load())
    assert result.problems == [] and result.keys > 0


def test_the_sdk_cache_hit_rate_is_read_when_the_ledger_records_it(chdb_url: str, ledger: Ledger) -> None:
    """The SDK cache's migration adds cost_rollups.cache_hits; this ledger gets the column by hand (tests may
    alter), the previous period's gpt-4o-mini calls as hits, none this period: the driver names both rates."""
    two_weeks(ledger)
    db = ledger.database
    ledger.command(f"ALTER TABLE {db}.cost_rollups ADD COLUMN IF NOT EXISTS cache_hits Int64 DEFAULT 0")
    ledger.command(f"ALTER TABLE {db}.cost_rollups UPDATE cache_hits = calls WHERE model = 'gpt-4o-mini' AND "
                   f"intDiv(toUnixTimestamp64Milli(window_start), {WEEK_MS}) = {WEEK}", settings={"mutations_sync": 2})
    _, rises = report.weekly(settings_for(chdb_url, ledger), PriceTable.load(), BudgetConfig.load(),
                             START + timedelta(days=14, hours=1), weeks=3)
    rise = next(r for r in rises if r.workflow == "refund_ticket")
    cache = next(d for d in rise.drivers if d.name == "SDK cache hit rate")
    assert cache.after == "0.0%" and float(cache.before.rstrip("%")) > 10.0
    rate = float(cache.before.rstrip("%")) / 100
    assert cache.effect_usd == pytest.approx(rise.current_usd * rate, rel=0.01)  # rate shown to 0.1%
