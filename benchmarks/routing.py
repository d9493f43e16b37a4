"""Routing benchmark: the SDK's run.route against an emit, in one run on one embedded Tansu broker.

  route      Run.route(**features) with the shipped policies/routing.toml (six rules), per call, back to back
             over fresh runs and varied features (amounts, risk scores, roles, tenants), on a WardenClient
             connected to the broker, as release_for is timed in benchmarks/rollout.py.
  recording  what each decision's event costs when the client sends it (built, validated, encoded and
             handed to librdkafka before the client's next event, off the agent's route call), per decision:
             the deferred decisions are sent every BATCH calls, each timed, untimed by the route figure.
  emit       WardenClient.emit of the demo's events, per call, on the same client (as benchmarks/rollout.py).
The ratio is route / emit (target <= 0.2). --sdk-encode delivery_thread times both on a client whose emit only
checks and queues (WARDEN_SDK_ENCODE, ADR 0025); the decisions are then recorded on its delivery thread, not
timed here. The last line printed is one JSON object with every figure.

    .venv/bin/python benchmarks/routing.py --calls 50000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from harness import cpu_model, percentile  # a sibling script, not a package
from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core.events import AgentEvent
from warden.core.settings import WardenSettings
from warden.demo.simulator import Simulator
from warden.routing.features import Value
from warden.sdk import WardenClient

BATCH = 200  # decisions sent together, untimed by the route figure (an agent's next emit sends its run's)
WORKFLOWS = ("refund_ticket", "triage_ticket", "export_report", "provision_access")


def features(n: int, seed: int = 5) -> list[tuple[str, str, dict[str, Value]]]:
    rng = random.Random(seed)
    out: list[tuple[str, str, dict[str, Value]]] = []
    for _ in range(n):
        found: dict[str, Value] = {"amount_usd": round(rng.uniform(1, 400), 2), "input_tokens": rng.randint(100, 9000)}
        if rng.random() < 0.5:
            found["risk_score"] = round(rng.random(), 3)
        if rng.random() < 0.3:
            found["role"] = rng.choice(["viewer", "admin"])
        out.append((rng.choice(("acme", "globex", "initech")), rng.choice(WORKFLOWS), found))
    return out


def route_figures(client: WardenClient, calls: int) -> tuple[float, float | None]:
    tasks = features(calls)
    runs = [client.run(tenant, workflow, "bench-agent", run_id=f"route-{i}") for i, (tenant, workflow, _) in
            enumerate(tasks)]
    runs[0].route(**tasks[0][2])  # the file loaded and the imports done: not part of a call
    client.flush(60)
    route_ns: list[float] = []
    recording_ns: list[float] = []
    for n, (run, (_, _, found)) in enumerate(zip(runs[1:], tasks[1:], strict=True), start=1):
        began = time.perf_counter_ns()
        run.route(**found)
        route_ns.append(time.perf_counter_ns() - began)
        if n % BATCH == 0:  # what the next emit does first (client._drain): each event built and handed over
            while client._deferred:
                build = client._deferred.popleft()
                began = time.perf_counter_ns()
                client._emit(build())
                recording_ns.append(time.perf_counter_ns() - began)
    client.flush(120)
    return percentile(route_ns, 0.5), percentile(recording_ns, 0.5) if recording_ns else None


def emit_figure(client: WardenClient, events: list[AgentEvent]) -> float:
    emit_ns: list[float] = []
    for event in events:
        began = time.perf_counter_ns()
        client.emit(event)
        emit_ns.append(time.perf_counter_ns() - began)
    client.flush(120)
    return percentile(emit_ns, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50_000, help="route and emit calls timed")
    parser.add_argument("--sdk-encode", choices=("caller", "delivery_thread"), default="caller")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, TansuBroker(free_port(), log_path=Path(tmp) / "tansu.log") as broker:
        settings = WardenSettings(data_dir=Path(tmp) / "w", kafka_bootstrap_servers=broker.bootstrap,
                                  topic_prefix=f"rt{uuid.uuid4().hex[:6]}.", kafka_extra_config={"log_level": 0},
                                  sdk_encode=args.sdk_encode)
        ensure_topics(settings)
        events = list(Simulator(seed=3, start=datetime(2026, 11, 2, tzinfo=UTC), run_prefix="rt").events(args.calls))
        with WardenClient(settings) as client:
            emit_ns = emit_figure(client, events)
            route_ns, recording_ns = route_figures(client, args.calls)
    print(f"run.route: p50 {route_ns:,.0f} ns; emit: p50 {emit_ns:,.0f} ns ({route_ns / emit_ns:.3f}x an emit)")
    if recording_ns is not None:
        print(f"recording a decision (sent before the next event, off the route call): p50 {recording_ns:,.0f} ns")
    print(json.dumps({
        "cpu": cpu_model(), "calls": args.calls, "sdk_encode": args.sdk_encode, "route_ns_p50": round(route_ns),
        "emit_ns_p50": round(emit_ns), "route_vs_emit": round(route_ns / emit_ns, 4),
        "recording_ns_p50": None if recording_ns is None else round(recording_ns),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
