"""Risk and cost benchmark: events/s through the risk-scorer (benchmarks/risk_scorer.py: its pure
step and a live `warden run risk-scorer`) and through the cost-aggregator (pure steps and the live
service on an embedded Tansu broker), and the aggregator's memory as tenants x workflows x models
grow (1k, 10k, 100k keys, each measured in a fresh process). The last line printed is one JSON object.

    .venv/bin/python benchmarks/risk_cost.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core.events import AgentEvent
from warden.core.settings import WardenSettings
from warden.cost.budgets import BudgetConfig
from warden.cost.prices import PriceTable
from warden.cost.windows import SpendWindows
from warden.cost_aggregator.processor import SpendState, step
from warden.cost_aggregator.service import CostAggregator
from warden.cost_aggregator.settings import CostAggregatorSettings
from warden.demo.simulator import Simulator
from warden.sdk import WardenClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from risk_scorer import bench_risk  # a sibling script, not a package

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def cost_processor_rate(events: list[AgentEvent]) -> float:
    prices, budgets = PriceTable.load(), BudgetConfig.load()
    state = SpendState(SpendWindows("bench"))
    began = time.perf_counter()
    for position, event in enumerate(events):
        state, _ = step(state, prices, budgets, event, position)
    return len(events) / (time.perf_counter() - began)


def cost_service_rate(events: list[AgentEvent], work: Path) -> float:
    """Events already on the topic; timed from the first consumed to the last."""
    with TansuBroker(free_port(), log_path=work / "tansu.log") as broker:
        settings = WardenSettings(data_dir=work / "w", kafka_bootstrap_servers=broker.bootstrap,
                                  topic_prefix=f"b{uuid.uuid4().hex[:6]}.", kafka_extra_config={"log_level": 0})
        ensure_topics(settings)
        with WardenClient(settings) as client:
            for event in events:
                client.emit(event)
        service = CostAggregator(CostAggregatorSettings(**{**settings.model_dump(), "batch_max_rows": 5000,
                                                           "budgets_enabled": False})).start()
        try:
            first = None
            deadline = time.monotonic() + 300
            while service.counters["events"] < len(events) and time.monotonic() < deadline:
                service.poll_once()
                if first is None and service.counters["events"]:
                    first = time.perf_counter()
            if service.counters["events"] < len(events):
                raise SystemExit(f"cost-aggregator consumed {service.counters['events']} of {len(events)} in 300 s")
            assert first is not None
            return len(events) / (time.perf_counter() - first)
        finally:
            service.close()


def memory_child(keys: int) -> None:
    """In a fresh process: open windows for `keys` tenant/workflow/model keys, report RSS."""
    process = psutil.Process()
    before = process.memory_info().rss
    prices, budgets = PriceTable.load(), BudgetConfig.load()
    state = SpendState(SpendWindows("mem"))
    workflows, models = 10, 10
    tenants = keys // (workflows * models)
    position = 0
    for t in range(tenants):
        for w in range(workflows):
            for m in range(models):
                event = AgentEvent.model_validate({
                    "event_id": str(uuid.uuid4()), "event_type": "llm_call", "occurred_at": START + timedelta(
                        milliseconds=position % 50_000), "tenant_id": f"tenant-{t:05d}", "workflow": f"wf-{w}",
                    "run_id": f"run-{position}", "agent_id": "a", "step": 1,
                    "body": {"model": f"model-{m}", "provider": "p", "input_tokens": 100, "output_tokens": 10,
                             "latency_ms": 1.0, "cost_usd": 0.001}})
                state, _ = step(state, prices, budgets, event, position)
                position += 1
    open_keys = sum(len(bucket) for bucket in state.windows.open.values())
    after = process.memory_info().rss
    print(json.dumps({"keys": keys, "open_window_rows": open_keys, "runs_tracked": len(state.runs),
                      "rss_mb": round(after / 2**20, 1), "state_mb": round((after - before) / 2**20, 1)}))


def memory(keys: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--memory-child", str(keys)], capture_output=True, text=True,
                          check=True, timeout=600)
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    events = list(Simulator(5, START, "bench").events(args.events))[:args.events]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    result: dict[str, float | int | str] = {"events": len(events)}
    risk = bench_risk(args.events, service=True)
    result["risk_events_per_s"] = round(risk["risk_service_events_per_s"])
    result["risk_processor_events_per_s"] = round(risk["risk_events_per_s"])
    print(f"risk-scorer: pure step {result['risk_processor_events_per_s']:,} events/s, live service "
          f"{result['risk_events_per_s']:,} events/s")
    result["cost_processor_events_per_s"] = round(cost_processor_rate(events))
    print(f"cost-aggregator pure steps: {result['cost_processor_events_per_s']:,} events/s")
    with tempfile.TemporaryDirectory() as work:
        result["cost_events_per_s"] = round(cost_service_rate(events, Path(work)))
    print(f"cost-aggregator service (embedded Tansu, events already on the topic): "
          f"{result['cost_events_per_s']:,} events/s")
    for keys in (1_000, 10_000, 100_000):
        found = memory(keys)
        print(f"memory at {keys:>7,} tenant x workflow x model keys: RSS {found['rss_mb']} MB "
              f"(state {found['state_mb']} MB, {found['open_window_rows']:,} open window rows)")
        result[f"rss_mb_at_{keys // 1000}k_keys"] = found["rss_mb"]
        result[f"state_mb_at_{keys // 1000}k_keys"] = found["state_mb"]
    result["rss_mb_at_100k_keys"] = result.pop("rss_mb_at_100k_keys")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
