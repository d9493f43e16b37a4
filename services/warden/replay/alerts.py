"""The alerter inside `warden replay`: the live lanes, ReorderBuffers and step over one file.

The file is one input: each lane releases its records in the same (event time, rank, id)
order the live alerter uses, so alerts.jsonl holds the records the live alerter raises for
the same events and decisions (docs/decisions/0003-alerting-on-event-time.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from warden.alerting.config import DEFAULT_ALERT_RULES, AlertRules, load_rules
from warden.alerting.ordering import ReorderBuffer
from warden.anomaly_alerter.processor import LANES, AlerterState, Lane, Pricer, lanes_for, sort_key, step
from warden.core.events import AgentEvent, LlmCall
from warden.core.records import Alert
from warden.cost.prices import DEFAULT_PRICES, PriceTable

FILE = ("file", 0)


def table_pricer(prices: PriceTable) -> Pricer:
    def price(event: AgentEvent, body: LlmCall) -> float | None:
        priced = prices.price(body, event.occurred_at)
        return priced.cost_usd if priced.known else None

    return price


class AlertReplay:
    def __init__(self, emit: Callable[[Alert], None], rules: AlertRules | None = None,
                 prices_path: Path = DEFAULT_PRICES, lateness_ms: int = 100) -> None:
        self.rules = rules or load_rules(DEFAULT_ALERT_RULES)
        self.price = table_pricer(PriceTable.load(prices_path))
        self.states = {lane: AlerterState.new(lane, self.rules) for lane in LANES}
        self.buffers = {lane: ReorderBuffer(lateness_ms) for lane in LANES}
        for buffer in self.buffers.values():
            buffer.register(FILE)
        self.emit = emit

    def feed(self, record: BaseModel) -> None:
        at, rank, ident = sort_key(record)
        millis = int(at.timestamp() * 1000)
        wanted = lanes_for(record)
        for lane, buffer in self.buffers.items():
            if lane in wanted:
                buffer.push(FILE, millis, rank, ident, record)
            else:
                buffer.advance(FILE, millis)
            self._run(lane, buffer.release())

    def finish(self) -> None:
        for lane, buffer in self.buffers.items():
            self._run(lane, buffer.release(flush=True))

    def _run(self, lane: Lane, records: list[BaseModel]) -> None:
        for record in records:
            self.states[lane], alerts = step(self.states[lane], self.rules, record, self.price)
            for alert in alerts:
                self.emit(alert)
