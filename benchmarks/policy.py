"""Policy benchmark: Warden's evaluator against raw cedarpy, the live service, and the SDK gate.

In one run on one embedded Tansu broker:
  in-process  per-decision latency of Warden's evaluator (request building, Cedar, the three-outcome
              mapping, switches) and of raw cedarpy `is_authorized` on the same pre-built requests;
  service     decisions/s through a real `warden run policy-evaluator` process (events already on
              the topic, timed from the first decision to the last);
  gate        SDK round trip `run.authorize(...)` -> verdict received, sequential calls.
The last line printed is one JSON object.

    .venv/bin/python benchmarks/policy.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import cedarpy
from confluent_kafka import Consumer

from harness import percentile, service_env, spawn  # a sibling script, not a package
from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core import topics
from warden.core.events import AgentEvent, ToolCallRequested
from warden.core.settings import WardenSettings
from warden.core.switches import Switches
from warden.demo.simulator import Simulator
from warden.policy.bundle import load_bundle
from warden.policy.engine import PolicyRequest, agent_entities, cedar_request, evaluate
from warden.sdk import WardenClient


def requests(events: list[AgentEvent]) -> list[PolicyRequest]:
    out = []
    for e in events:
        if isinstance(e.body, ToolCallRequested):
            out.append(PolicyRequest(e.tenant_id, e.workflow, e.agent_id, e.body.tool, e.body.action,
                                     e.body.resource, e.body.params_dict(), e.step))
    return out


def in_process(reqs: list[PolicyRequest], rounds: int) -> tuple[list[float], list[float]]:
    bundle = load_bundle()
    switches = Switches()
    raw = [(cedar_request(bundle, r), agent_entities(r.agent_id, r.tenant_id)) for r in reqs]
    warden_us: list[float] = []
    cedar_us: list[float] = []
    for _ in range(rounds):  # interleaved, so both see the same machine load
        for request, (cedar_req, ents) in zip(reqs, raw, strict=True):
            t0 = time.perf_counter_ns()
            cedarpy.is_authorized(cedar_req, bundle.policy_set, ents)
            t1 = time.perf_counter_ns()
            evaluate(bundle, request, switches)
            t2 = time.perf_counter_ns()
            cedar_us.append((t1 - t0) / 1000)
            warden_us.append((t2 - t1) / 1000)
    return warden_us, cedar_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40_000, help="simulated events (about a quarter are calls)")
    parser.add_argument("--gate-calls", type=int, default=300)
    args = parser.parse_args()

    events = list(Simulator(21, datetime.now(UTC), "pbench").events(args.events))
    reqs = requests(events)
    warden_us, cedar_us = in_process(reqs[:3000], rounds=3)
    print(f"in-process: warden p50 {percentile(warden_us, .5):.1f} us, cedarpy p50 {percentile(cedar_us, .5):.1f} us",
          flush=True)

    work = Path(tempfile.mkdtemp(prefix="warden-policy-bench-"))
    with TansuBroker(free_port(), log_path=work / "tansu.log") as broker:
        settings = WardenSettings(data_dir=work / "data", kafka_bootstrap_servers=broker.bootstrap,
                                  topic_prefix="pbench.")
        ensure_topics(settings)
        with WardenClient(settings) as client:
            for event in events:
                client.emit(event)
        env = service_env(settings, WARDEN_GROUP_ID=f"pe-{uuid.uuid4().hex[:6]}")
        consumer = Consumer({**settings.kafka_config(), "group.id": f"read-{uuid.uuid4().hex[:6]}",
                             "auto.offset.reset": "earliest", "fetch.wait.max.ms": 10})
        consumer.subscribe([settings.topic(topics.POLICY_DECISIONS)])
        while not consumer.assignment():  # the reader is in its group before the first decision exists
            consumer.consume(1, 0.2)
        evaluator = spawn("policy-evaluator", env, work / "evaluator.log")
        try:
            seen = 0
            first = last = 0.0
            deadline = time.monotonic() + 300
            while seen < len(reqs) and time.monotonic() < deadline:
                got = sum(1 for m in consumer.consume(5000, 0.2) if m.error() is None)
                if got and not seen:
                    first = time.perf_counter()
                seen += got
                last = time.perf_counter() if got else last
            consumer.close()
            service_rate = seen / (last - first) if last > first else 0.0
            print(f"service: {seen:,} decisions at {service_rate:,.0f}/s", flush=True)

            rtts: list[float] = []
            with WardenClient(settings) as client:
                run = client.run("acme", "refund_ticket", "bench-agent")
                client.gate()
                for i in range(args.gate_calls):
                    t0 = time.perf_counter()
                    _, verdict = run.authorize("crm", "lookup", {"customer_id": f"c{i}"}, timeout_s=10)
                    rtts.append((time.perf_counter() - t0) * 1000)
                    assert verdict.outcome == "allow", verdict
        finally:
            evaluator.terminate()
            evaluator.wait(30)

    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "requests": len(reqs),
        "decision_p50_us": round(percentile(warden_us, 0.50), 1),
        "decision_p99_us": round(percentile(warden_us, 0.99), 1),
        "cedar_raw_p50_us": round(percentile(cedar_us, 0.50), 1),
        "cedar_raw_p99_us": round(percentile(cedar_us, 0.99), 1),
        "overhead_ratio": round(percentile(warden_us, 0.50) / percentile(cedar_us, 0.50), 3),
        "service_decisions_per_s": round(service_rate),
        "gate_calls": len(rtts),
        "gate_rtt_p50_ms": round(percentile(rtts, 0.50), 1),
        "gate_rtt_p95_ms": round(percentile(rtts, 0.95), 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
