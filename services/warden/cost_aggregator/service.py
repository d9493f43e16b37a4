"""The cost-aggregator shell: agent.events in, cost.rollups (and budget alerts, kill switches) out, on the runtime.

Stage one keeps one SpendState per assigned partition, checkpointed with its input offset; a
restart, kill -9 included, reloads the checkpoint and re-reads from there, and re-produced rollups
carry the same ids, which the ledger lands once. A quiet partition's open windows are flushed on
the wall clock (the processor's tick): that change has no input offset to re-read, so the runtime
writes its rows into the checkpoint's outbox before producing them, and produces them again after
a crash. Stage two reads every partition of cost.rollups for budgets and regression, and counts
each rollup id once (a stage-one restart re-produces rollups).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.output import Output
from warden.core.records import Alert, Control, CostRollup
from warden.core.seen import SeenIds
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.cost.tracker import TrackerState, track
from warden.cost.windows import SpendWindows
from warden.cost_aggregator.processor import READS, SpendState, flush, passed, step
from warden.cost_aggregator.settings import CostAggregatorSettings
from warden.kafka.clients import Fetch
from warden.runtime.app import App
from warden.runtime.processor import BaseProcessor, Input, Membership, Passed, Record, Restored, Scope

log = logging.getLogger("warden.cost_aggregator")
_RECORDS: dict[str, type[CostRollup] | type[Alert] | type[Control]] = {
    c.__name__: c for c in (CostRollup, Alert, Control)}


def decode_outputs(data: list[dict[str, Any]]) -> list[Output]:
    """The outbox of a snapshot written before the runtime (typed JSON rows)."""
    return [Output(d["topic"], d["key"], _RECORDS[d["type"]].model_validate(d["record"])) for d in data]


class SpendProcessor(BaseProcessor[SpendState]):
    name = "cost-aggregator"
    seen_capacity = 0  # SpendState remembers the event ids it counted (dedupe_window)
    isolate_failures = False  # an event that cannot be priced stops the service: skipping it would lose money
    fetch = Fetch(wait_ms=50)

    def __init__(self, settings: CostAggregatorSettings, prices: PriceTable, budgets: BudgetConfig) -> None:
        self.settings = settings
        self.prices = prices
        self.budgets = budgets
        self.inputs = (Input(topics.AGENT_EVENTS, "warden.AgentEvent", reads=READS),)
        self.batch_max_rows = settings.batch_max_rows
        self.checkpoint_every_s = settings.snapshot_every_s
        self.unpriced_models: set[str] = set()

    def initial(self, partition: int) -> SpendState:
        return SpendState(SpendWindows(f"p{partition}", int(self.settings.lateness_s * 1000)),
                          self.settings.run_cache_size, seen=SeenIds(self.settings.dedupe_window))

    def step(self, state: SpendState, record: Record) -> tuple[SpendState, list[Output]]:
        event = record.value
        assert isinstance(event, AgentEvent)
        state, outputs = step(state, self.prices, self.budgets, event, record.offset)
        self._warn_unpriced(outputs)
        return state, outputs

    def passed(self, state: SpendState, record: Passed) -> tuple[SpendState, list[Output]]:
        return passed(state, record.routing.occurred_at)

    def tick(self, state: SpendState, quiet_s: float) -> tuple[SpendState, list[Output]]:
        if not state.windows.open or quiet_s < self.settings.idle_flush_s:
            return state, []
        state, outputs = flush(state)
        self._warn_unpriced(outputs)
        return state, outputs

    def _warn_unpriced(self, outputs: list[Output]) -> None:
        for out in outputs:
            record = out.record
            if isinstance(record, CostRollup) and record.unpriced_calls and record.model not in self.unpriced_models:
                self.unpriced_models.add(record.model)
                log.warning("model %r is missing from price table %s: its calls are counted as unpriced_calls, "
                            "not priced at $0; add it to %s", record.model, self.prices.digest,
                            self.settings.prices_file)

    def dump(self, state: SpendState) -> Any:
        return state.to_json()

    def restore(self, data: Any, partition: int) -> SpendState:
        return SpendState.from_json(data, self.settings.dedupe_window)

    def upgrade(self, snapshot_state: Any, next_offset: int, partition: int) -> Restored[SpendState]:
        spend = SpendState.from_json(snapshot_state["spend"], self.settings.dedupe_window)
        return Restored(spend, {(topics.AGENT_EVENTS, partition): next_offset},
                        decode_outputs(snapshot_state["outbox"]))


class BudgetProcessor(BaseProcessor[TrackerState]):
    """Stage two: a tenant's or a workflow's spend spans partitions, so one state over all of them."""

    name = "cost-budgets"
    scope = Scope.WHOLE
    membership = Membership.ALL  # with several replicas, budgets_enabled is on in exactly one
    batch_max_rows = 500
    poll_timeout_s = 0.0
    fetch = Fetch(wait_ms=50)
    isolate_failures = False
    seen_capacity = 0  # TrackerState counts each rollup id once itself, as replay does

    def __init__(self, settings: CostAggregatorSettings, budgets: BudgetConfig) -> None:
        self.budgets = budgets
        self.inputs = (Input(topics.COST_ROLLUPS, "warden.CostRollup"),)
        self.checkpoint_every_s = settings.snapshot_every_s
        self.rollup_window = settings.rollup_dedupe_window
        self.whole_key = f"{settings.topic(topics.COST_ROLLUPS)}.budgets"

    def initial(self, partition: int) -> TrackerState:
        return TrackerState(seen=SeenIds(self.rollup_window))

    def step(self, state: TrackerState, record: Record) -> tuple[TrackerState, list[Output]]:
        rollup = record.value
        assert isinstance(rollup, CostRollup)
        return state, track(state, self.budgets, rollup)

    def dump(self, state: TrackerState) -> Any:
        return state.to_json()

    def restore(self, data: Any, partition: int) -> TrackerState:
        return TrackerState.from_json(data, self.rollup_window)

    def upgrade(self, snapshot_state: Any, next_offset: int, partition: int) -> Restored[TrackerState]:
        return Restored(TrackerState.from_json(snapshot_state["tracker"], self.rollup_window),
                        {(topics.COST_ROLLUPS, int(p)): o for p, o in snapshot_state["offsets"].items()}, [])


class CostAggregator(App):
    def __init__(self, settings: CostAggregatorSettings) -> None:
        super().__init__(settings, "cost-aggregator", linger_ms=5)
        self.prices = PriceTable.load(settings.prices_file)
        self.budgets = BudgetConfig.load(settings.budgets_file)
        self.spend = self.add(SpendProcessor(settings, self.prices, self.budgets), settings.group_id,
                              self.store_for(settings))
        self.budget_counters: Counter[str] = Counter()
        if settings.budgets_enabled:
            budgets = f"{settings.group_id}-budgets"  # its snapshots have always been beside stage one's
            self.add(BudgetProcessor(settings, self.budgets), budgets,
                     self.store_for(settings, budgets, settings.snapshot_dir), self.budget_counters)

    def start(self) -> CostAggregator:
        super().start()
        log.info("cost-aggregator: prices %s, budgets %s, budgets tracking %s", self.prices.digest,
                 self.budgets.version, "on" if len(self.tasks) > 1 else "off")
        return self


def run_service(settings: CostAggregatorSettings, stop: threading.Event) -> None:
    CostAggregator(settings).start().serve(stop)
