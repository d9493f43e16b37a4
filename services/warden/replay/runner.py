"""Offline replay (DESIGN.md): same processor code as the live services, in file order.

Processors that exist today: contract validation, the ledger's redaction, the policy
evaluator (decisions.jsonl, with the same bundle hash, ids and reasons as live) and the
cost-aggregator (costs.jsonl: rollup deltas whose sums per window and key equal live's, though
live splits them differently by partition and idle flushes; its budget alerts and per-task
ceiling flags go to alerts.jsonl, and a hard budget's kill switch reaches the evaluator as
live). Files of processors not yet built are written empty so scripts can rely on all four.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from warden.core import topics
from warden.core.errors import ValidationError
from warden.core.events import AgentEvent, iso_millis
from warden.core.output import Output
from warden.core.records import Alert, Control, CostRollup
from warden.core.wire import validate
from warden.cost.budgets import DEFAULT_BUDGETS, BudgetConfig
from warden.cost.prices import DEFAULT_PRICES, PriceTable
from warden.cost.tracker import TrackerState, track
from warden.cost.windows import SpendWindows
from warden.cost_aggregator import processor as cost
from warden.ledger.tables import event_row
from warden.policy.bundle import DEFAULT_POLICIES, load_bundle
from warden.policy_evaluator.processor import EvaluatorState, step

OUTPUT_FILES = ("decisions.jsonl", "risk.jsonl", "alerts.jsonl", "costs.jsonl")


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ReplayResult:
    events: int = 0
    redactions: int = 0
    switches_set: int = 0
    bad: list[BadLine] = field(default_factory=list)
    outputs: dict[str, int] = field(default_factory=dict)


def read_events(lines: IO[str]) -> Iterator[tuple[int, AgentEvent | BadLine]]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            yield number, BadLine(number, f"not JSON: {exc}")
            continue
        if not isinstance(data, dict):
            yield number, BadLine(number, f"expected a JSON object (an AgentEvent), got {type(data).__name__}")
            continue
        try:
            yield number, validate(AgentEvent, data)
        except ValidationError as exc:
            yield number, BadLine(number, str(exc))


def ledger_view(event: AgentEvent) -> dict[str, Any]:
    """The event as the ledger stores it: flattened, redacted, with its redaction count."""
    row = event_row(event)
    row["occurred_at"] = iso_millis(event.occurred_at)
    return {k: v for k, v in row.items() if v is not None}


def record_view(record: BaseModel) -> dict[str, Any]:
    """A record's JSON view: timestamps as ISO-8601 UTC with milliseconds, like AgentEvent's."""
    view = record.model_dump(mode="json")
    for name, value in record:
        if isinstance(value, datetime):
            view[name] = iso_millis(value)
    return view


def replay(events_path: Path, out_dir: Path, policies: Path = DEFAULT_POLICIES, prices: Path = DEFAULT_PRICES,
           budgets: Path = DEFAULT_BUDGETS) -> ReplayResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ReplayResult()
    bundle = load_bundle(policies)
    price_table, budget_config = PriceTable.load(prices), BudgetConfig.load(budgets)
    state = EvaluatorState()
    spend = cost.SpendState(SpendWindows("replay"))
    tracker = TrackerState()
    handles = {name: open(out_dir / name, "w") for name in (*OUTPUT_FILES, "events.jsonl")}  # noqa: SIM115

    def write(name: str, record: BaseModel) -> None:
        handles[name].write(json.dumps(record_view(record)) + "\n")

    def route(outputs: list[Output]) -> None:
        nonlocal state
        for out in outputs:
            if out.topic == topics.POLICY_DECISIONS:
                write("decisions.jsonl", out.record)
            elif isinstance(out.record, Control):
                result.switches_set += 1
                state, _ = step(state, bundle, out.record)  # as the live evaluator reads the control topic
            elif isinstance(out.record, CostRollup):
                write("costs.jsonl", out.record)
                route(track(tracker, budget_config, out.record))
            elif isinstance(out.record, Alert):
                write("alerts.jsonl", out.record)

    try:
        with open(events_path) as lines:
            for number, item in read_events(lines):
                if isinstance(item, BadLine):
                    result.bad.append(item)
                    continue
                view = ledger_view(item)
                result.events += 1
                result.redactions += view["redactions"]
                handles["events.jsonl"].write(json.dumps(view, sort_keys=True) + "\n")
                state, outputs = step(state, bundle, item)
                route(outputs)
                spend, outputs = cost.step(spend, price_table, budget_config, item, number)
                route(outputs)
        spend, outputs = cost.flush(spend)
        route(outputs)
    finally:
        for handle in handles.values():
            handle.close()
    result.outputs = {name: len((out_dir / name).read_text().splitlines()) for name in handles}
    return result
