"""Builders shared by the eval tests: an agent from a plain function, items, one case's toolbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.ledger_sink.helpers import sink_settings, wait_for
from warden.core.settings import WardenSettings
from warden.evals.dataset import Item
from warden.evals.runner import AgentSpec, Case, EvalConfig, EvalContext, ItemRun, context, run_item
from warden.evals.tools import Recorder, ToolBox
from warden.evals.world import World
from warden.ledger.client import Ledger
from warden.ledger_sink.service import LedgerSink
from warden.policy.bundle import load_bundle
from warden.sdk.run import Run
from warden.tool_proxy.inventory import load_inventory


def spec(func: Callable[[Case], Any], model: str = "gpt-4o-mini") -> AgentSpec:
    return AgentSpec(f"tests:{getattr(func, '__name__', type(func).__name__)}", func, model, "p1")


def item(workflow: str = "refund_ticket", **fields: Any) -> Item:
    data: dict[str, Any] = {"id": "i-1", "workflow": workflow, "input": {}, "fixture": {}, "expect": {}, **fields}
    return Item.model_validate(data)


def run_one(func: Callable[[Case], Any], it: Item, config: EvalConfig = EvalConfig()) -> ItemRun:
    ctx: EvalContext = context(spec(func), config, "eval-test")
    return run_item(it, ctx)


def toolbox(workflow: str, fixture: dict[str, Any]) -> tuple[ToolBox, Recorder, World]:
    recorder = Recorder(load_bundle())
    world = World(fixture)
    run = Run(recorder, "eval", workflow, "agent-t", "run-t", None)
    run.started("v1", "p1", "m")
    return ToolBox(world, load_inventory(), run, recorder), recorder, world


def land(topics: WardenSettings, ledger: Ledger, **at_least: int) -> None:
    """Run a real ledger-sink until every named table holds at least that many rows."""
    sink = LedgerSink(sink_settings(topics, ledger), ledger).start()
    try:
        wait_for(lambda: all(ledger.scalar(f"SELECT count() FROM {ledger.database}.{table}") >= n
                             for table, n in at_least.items()),
                 step=sink.poll_once, timeout_s=60, what=f"rows in the ledger: {at_least}")
    finally:
        sink.close()
