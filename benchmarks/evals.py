"""Eval benchmark: items/s through `warden eval run` with the reference agent, against the same agent
on the same items with no Warden, in one run.

  eval         run_eval (what `warden eval run` executes): per item a sandbox world, an SDK run whose
               events are recorded, every tool call through the inventory's strict schema and the
               policy-evaluator's Cedar step, the world diff scored, results written
  cli          the `warden eval run` command itself, wall time including interpreter start and imports
  direct       the reference agent on the same items with a do-nothing run and tools that apply the
               reference effects to the world directly: no events, no schema, no policy, no scoring
overhead_ratio = direct items/s ÷ eval items/s. The last line printed is one JSON object.

    .venv/bin/python benchmarks/evals.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import cpu_model  # a sibling script, not a package
from warden.evals.dataset import Item, load
from warden.evals.golden import DEFAULT_PATH
from warden.evals.reference_agent import agent
from warden.evals.runner import Case, EvalConfig, load_agent, run_eval
from warden.evals.world import REFERENCE_TOOLS, World
from warden.stack import warden_command


class _NoRun:
    """Stands in for the SDK run: the agent's llm_call and completed calls do nothing."""

    def llm_call(self, *args: Any, **kwargs: Any) -> None:
        pass

    def completed(self, *args: Any, **kwargs: Any) -> None:
        pass


class _DirectTools:
    def __init__(self, world: World) -> None:
        self.world = world

    def call(self, tool: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        return REFERENCE_TOOLS[f"{tool}.{action}"](self.world, params)


def direct(items: list[Item]) -> None:
    for it in items:
        world = World(it.fixture)
        case = Case(it.id, it.workflow, dict(it.input), _NoRun(), _DirectTools(world), list(it.tags))  # type: ignore[arg-type]
        agent(case)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    items = load(DEFAULT_PATH).items
    spec = load_agent("warden.evals.reference_agent:agent")
    with tempfile.TemporaryDirectory() as tmp:
        run_eval(DEFAULT_PATH, spec, Path(tmp) / "warm")  # imports, bundle parse, caches
        eval_s, direct_s = [], []
        for k in range(args.repeat):  # interleaved so both see the same machine load
            began = time.perf_counter()
            report = run_eval(DEFAULT_PATH, spec, Path(tmp) / f"run{k}", EvalConfig())
            eval_s.append(time.perf_counter() - began)
            began = time.perf_counter()
            direct(items)
            direct_s.append(time.perf_counter() - began)
        began = time.perf_counter()
        cli = subprocess.run([*warden_command(), "eval", "run", str(DEFAULT_PATH), "--agent",
                              "warden.evals.reference_agent:agent", "--out", str(Path(tmp) / "cli")],
                             capture_output=True, text=True, timeout=600)
        cli_s = time.perf_counter() - began
    n = len(items)
    best_eval, best_direct = min(eval_s), min(direct_s)
    result = {
        "items": n, "repeat": args.repeat, "passed": report.summary["passed"],
        "items_per_s": round(n / best_eval, 1), "direct_items_per_s": round(n / best_direct, 1),
        "overhead_ratio": round(best_eval / best_direct, 1),
        "per_item_ms": round(best_eval / n * 1000, 3), "direct_per_item_ms": round(best_direct / n * 1000, 4),
        "cli_items_per_s": round(n / cli_s, 1), "cli_exit": cli.returncode, "cpu": cpu_model(),
    }
    print(f"eval    {result['items_per_s']:>10,.1f} items/s  ({result['per_item_ms']} ms/item, best of {args.repeat})")
    print(f"direct  {result['direct_items_per_s']:>10,.1f} items/s  (same agent, same items, no Warden)")
    print(f"cli     {result['cli_items_per_s']:>10,.1f} items/s  (`warden eval run`, one process, incl. start-up)")
    print(f"overhead ratio {result['overhead_ratio']}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
