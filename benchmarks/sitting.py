"""Every benchmark in one sitting (issue 15 point 4): each script run in turn on this checkout, its last JSON
line kept, and every target the issues set checked against the figures of that same run.

Machines of one kind differ 3-4x in Python speed, so a sitting is the only honest way to put the figures of
different scripts side by side: same code, same machine, same hour. The load average before and after each
script is recorded with it, since a neighbour's job on a shared machine moves every figure.

    .venv/bin/python benchmarks/sitting.py                    # all of it (about an hour: the stack's 10-minute steps)
    .venv/bin/python benchmarks/sitting.py --quick            # shorter runs of each (not the targets' durations)
    .venv/bin/python benchmarks/sitting.py --only rollout,routing

Writes <out>/<name>.log (each script's whole output) and <out>/sitting.json, and prints a Markdown table of
every target: met, or missed by how much.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import cpu_model

HERE = Path(__file__).resolve().parent
Figures = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """One target of an issue: a figure of the script's JSON (or one derived from it) against a bound."""

    name: str
    figure: Callable[[Figures], float | None]
    op: str  # "<=" or ">="
    bound: float
    issue: int

    def judge(self, found: Figures) -> tuple[float | None, str]:
        try:
            value = self.figure(found)
        except (KeyError, TypeError, ZeroDivisionError):
            value = None
        if value is None:
            return None, "not reported"
        met = (operator.le if self.op == "<=" else operator.ge)(value, self.bound)
        if met:
            return value, "met"
        # How far off, as the factor the figure must still move by (2.0x: twice as fast, or half the cost).
        factor = value / self.bound if self.op == "<=" else (self.bound / value if value else float("inf"))
        return value, f"MISSED ({factor:.2f}x off)"


def key(name: str) -> Callable[[Figures], float | None]:
    return lambda found: found.get(name)


@dataclass(frozen=True)
class Bench:
    name: str
    args: list[str]
    quick: list[str]
    targets: list[Target] = field(default_factory=list)


SITTING = [
    Bench("pipeline", ["--events", "100000"], ["--events", "20000"], [
        Target("end to end / raw broker", key("ratio"), ">=", 0.5, 15),
        Target("emitted -> queryable p95 (s)", key("latency_p95_s"), "<=", 1.0, 15),
        Target("SDK emit p50 / bare produce p50", key("sdk_emit_vs_bare_produce"), "<=", 3.0, 15)]),
    Bench("stack", ["--rates", "250,500,1000,2000"], ["--short", "--rates", "250,500,1000"], [
        Target("whole stack sustained / raw broker", key("sustained_ratio"), ">=", 0.2, 15),
        Target("alert latency p95 at the sustained rate (s)", key("alert_latency_p95_s"), "<=", 1.0, 15)]),
    Bench("proxy", [], [], [
        Target("proxy overhead p50 / direct p50",
               lambda f: f["overhead_p50_ms"] / f["direct_p50_ms"], "<=", 1.0, 15)]),
    Bench("rollout", ["--events", "40000", "--calls", "50000", "--rounds", "20"],
          ["--events", "20000", "--calls", "20000", "--rounds", "5"], [
        Target("release_for p50 / emit p50", key("release_for_vs_emit"), "<=", 0.2, 11),
        Target("controller / pure step (per CPU s)", key("controller_vs_pure_cpu"), ">=", 0.5, 11),
        Target("rollback visible p95 (s)", key("rollback_visible_s_p95"), "<=", 1.0, 11)]),
    Bench("routing", ["--calls", "50000"], ["--calls", "20000"], [
        Target("run.route p50 / emit p50", key("route_vs_emit"), "<=", 0.2, 17)]),
    Bench("cache", ["--calls", "20000"], ["--calls", "5000"]),
    Bench("policy", [], []),
    Bench("risk_cost", [], ["--events", "20000"]),
    Bench("risk_scorer", ["--events", "40000"], ["--events", "10000"]),
    Bench("alerts", ["--rate", "5000", "--seconds", "60", "--events", "100000"],
          ["--rate", "1500", "--seconds", "30", "--events", "20000"]),
    Bench("decode", ["--events", "20000", "--repeat", "5"], ["--events", "5000", "--repeat", "2"]),
    Bench("evals", ["--repeat", "3"], ["--repeat", "1"]),
    Bench("redaction", ["--events", "20000"], ["--events", "5000"], [
        Target("redaction recall on the corpus", key("recall"), ">=", 1.0, 13),
        Target("redaction false positives", key("false_positives"), "<=", 0, 13)]),
    Bench("fuzz", ["--inputs", "100000"], ["--inputs", "10000"], [
        Target("uncaught exceptions on hostile input", key("uncaught"), "<=", 0, 13)]),
    Bench("broker_rss", ["--events", "1000000", "--checkpoints", "100000,500000,1000000"],
          ["--events", "200000", "--checkpoints", "20000,100000,200000"], [
        Target("broker RSS last / first checkpoint", key("tansu_rss_ratio"), "<=", 1.2, 15)]),
    Bench("tansu_fetch", ["--storage", "s3", "--rate", "5000", "--seconds", "40", "--lingers", "50"],
          ["--storage", "s3", "--rate", "1000", "--seconds", "20", "--lingers", "50"]),
    Bench("runtime_faust", ["--events", "20000"], ["--events", "5000", "--scenarios", "throughput"]),
]


def last_json(text: str) -> Figures | None:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except json.JSONDecodeError:
                return None
            return found if isinstance(found, dict) else None
    return None


def run(bench: Bench, quick: bool, out: Path, timeout_s: float) -> Figures:
    argv = [sys.executable, str(HERE / f"{bench.name}.py"), *(bench.quick if quick else bench.args)]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    print(f"== {bench.name}: {' '.join(argv[1:])} (load {load_before:.1f})", flush=True)
    log = out / f"{bench.name}.log"
    with open(log, "w") as sink:
        try:
            done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=sink, text=True, timeout=timeout_s,
                                  cwd=HERE.parent)
            stdout, code = done.stdout, done.returncode
        except subprocess.TimeoutExpired as exc:
            stdout, code = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), -1
        sink.write(stdout)
    figures = last_json(stdout) if code == 0 else None
    judged = [(t, *t.judge(figures or {})) for t in bench.targets]
    for target, value, verdict in judged:
        print(f"   {target.name}: {value if value is not None else '-'} ({target.op} {target.bound:g}): {verdict}")
    return {"name": bench.name, "argv": argv[1:], "exit": code, "seconds": round(time.monotonic() - started, 1),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2), "figures": figures,
            "targets": [{"target": t.name, "issue": t.issue, "value": v, "bound": f"{t.op} {t.bound:g}",
                         "verdict": verdict} for t, v, verdict in judged]}


def markdown(results: list[Figures], cpu: str, date: str) -> str:
    lines = [f"Sitting of {date}, {cpu}, {os.cpu_count()} cores", "",
             "| benchmark | load before/after | target (issue) | figure | bound | verdict |",
             "|---|---|---|---|---|---|"]
    for result in results:
        load = f"{result['load_before']} / {result['load_after']}"
        if result["exit"] != 0:
            lines.append(f"| {result['name']} | {load} | - | exit {result['exit']} | - | FAILED (see its log) |")
        for t in result["targets"]:
            value = "-" if t["value"] is None else f"{t['value']:.4g}"
            lines.append(f"| {result['name']} | {load} | {t['target']} ({t['issue']}) | {value} | {t['bound']} | "
                         f"{t['verdict']} |")
        if result["exit"] == 0 and not result["targets"]:
            lines.append(f"| {result['name']} | {load} | (figures only) | - | - | ran in {result['seconds']} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs: a look, not the targets' durations")
    parser.add_argument("--only", default="", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="directory for logs and sitting.json")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds one script may take")
    args = parser.parse_args()
    chosen = [b for b in SITTING if not args.only or b.name in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - {b.name for b in SITTING}
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; expected some of {[b.name for b in SITTING]}")
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    out = args.out or HERE.parent / ".warden" / f"bench-sitting-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    cpu = cpu_model()
    results = [run(bench, args.quick, out, args.timeout) for bench in chosen]
    table = markdown(results, cpu, date)
    summary = {"date": date, "cpu": cpu, "cores": os.cpu_count(), "quick": args.quick, "results": results}
    (out / "sitting.json").write_text(json.dumps(summary, indent=2))
    (out / "sitting.md").write_text(table + "\n")
    print(table)
    print(f"logs and sitting.json in {out}")
    print(json.dumps({"date": date, "cpu": cpu, "quick": args.quick, "out": str(out),
                      "failed": [r["name"] for r in results if r["exit"] != 0],
                      "missed": [f"{r['name']}: {t['target']}" for r in results for t in r["targets"]
                                 if t["verdict"] != "met"]}))


if __name__ == "__main__":
    main()
