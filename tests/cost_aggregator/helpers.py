"""Shared by the aggregator's integration tests: what the pure steps say the totals must be."""

from __future__ import annotations

from collections import defaultdict

from warden.core.events import AgentEvent
from warden.core.records import Alert, CostRollup
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.cost.windows import SpendWindows
from warden.cost_aggregator.processor import SpendState, flush, step

Key = tuple[str, str, str, str]


def expected(events: list[AgentEvent]) -> tuple[dict[Key, float], set[str]]:
    """Totals per tenant/workflow/model/route and the flagged runs, from the pure steps in file order."""
    prices, budgets = PriceTable.load(), BudgetConfig.load()
    state = SpendState(SpendWindows("file"))
    outputs = []
    for position, event in enumerate(events):
        state, out = step(state, prices, budgets, event, position)
        outputs += out
    outputs += flush(state)[1]
    return totals([o.record for o in outputs if isinstance(o.record, CostRollup)]), {
        o.record.run_id or "" for o in outputs if isinstance(o.record, Alert)}


def totals(rollups: list[CostRollup], window: str = "1m") -> dict[Key, float]:
    found: dict[Key, float] = defaultdict(float)
    for r in rollups:
        if r.window == window and r.model:
            found[(r.tenant_id, r.workflow, r.model, r.route)] += r.cost_usd
    return {k: round(v, 6) for k, v in found.items()}


def same_totals(got: dict[Key, float], want: dict[Key, float], tolerance_usd: float = 1e-6) -> bool:
    """Equal keys and dollars up to float summation order (a millionth of a cent is not money)."""
    return got.keys() == want.keys() and all(abs(got[k] - want[k]) < tolerance_usd for k in want)
