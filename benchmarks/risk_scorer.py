"""Risk benchmark: events/s through the risk-scorer's processor and through the live service.

  processor  simulated demo events and their policy decisions (computed beforehand, not timed) fed
             to the same per-partition step the service runs (KeyedRisk, 6 partitions), in-process;
  service    the same events and decisions already on the topics of an embedded Tansu broker, scored
             by a real `warden run risk-scorer` process; timed from the first risk score read to the
             last, by a reader that joined its group before the scorer started;
  gate       SDK round trip `run.authorize(...)` -> verdict with the risk hop: a real policy-evaluator
             and the risk-scorer running, sequential allowed calls (each waits for its risk score);
  memory     bytes of risk state (tracemalloc) per distinct tenant x workflow x agent key.
The last line printed is one JSON object. ``bench_risk`` is imported by benchmarks/risk_cost.py.

    .venv/bin/python benchmarks/risk_scorer.py --events 40000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer, Producer

from harness import percentile, service_env, spawn  # a sibling script, not a package
from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.records import PolicyDecision
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.demo.simulator import Simulator
from warden.policy.bundle import DEFAULT_POLICIES, load_bundle
from warden.policy_evaluator.processor import EvaluatorState, step
from warden.risk_scorer.processor import KeyedRisk
from warden.risk_scorer.settings import RiskScorerSettings
from warden.sdk import WardenClient


def inputs(n_events: int, seed: int = 31) -> list[AgentEvent | PolicyDecision]:
    """Demo events, each tool call followed by its policy decision, in the order the pipeline sees them."""
    events = list(Simulator(seed, datetime(2026, 11, 2, 8, 0, tzinfo=UTC), f"rbench{seed}").events(n_events))
    bundle, state = load_bundle(), EvaluatorState()
    out: list[AgentEvent | PolicyDecision] = []
    for event in events[:n_events]:
        out.append(event)
        state, outputs = step(state, bundle, event)
        out += [o.record for o in outputs
                if o.topic == topics.POLICY_DECISIONS and isinstance(o.record, PolicyDecision)]
    return out


def bench_processor(messages: list[AgentEvent | PolicyDecision]) -> dict[str, float]:
    scorer = KeyedRisk(RiskScorerSettings().risk_config(), topics.PARTITIONS[topics.AGENT_EVENTS])
    events = sum(1 for m in messages if isinstance(m, AgentEvent))
    started = time.perf_counter()
    scores = sum(len(scorer.feed(m)) for m in messages)
    elapsed = time.perf_counter() - started
    return {"risk_events_per_s": round(events / elapsed), "risk_us_per_event": round(elapsed / events * 1e6, 1),
            "risk_outputs": scores}


def bench_service(messages: list[AgentEvent | PolicyDecision], gate_calls: int = 200) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="warden-risk-bench-"))
    events = [m for m in messages if isinstance(m, AgentEvent)]
    expected = sum(1 for e in events if e.event_type in ("tool_call_requested", "run_completed"))
    with TansuBroker(free_port(), log_path=work / "tansu.log") as broker:
        settings = WardenSettings(data_dir=work / "data", kafka_bootstrap_servers=broker.bootstrap,
                                  topic_prefix="rbench.", kafka_extra_config={"log_level": 0})
        ensure_topics(settings)
        wire = wire_for(settings)
        producer = Producer({**settings.producer_config(), "enable.idempotence": True, "linger.ms": 10})
        for m in messages:
            base = topics.AGENT_EVENTS if isinstance(m, AgentEvent) else topics.POLICY_DECISIONS
            producer.produce(settings.topic(base), wire.encode(m), key=m.run_id.encode())
            producer.poll(0)
        assert producer.flush(60) == 0
        env = service_env(settings, WARDEN_GROUP_ID=f"rs-{uuid.uuid4().hex[:6]}")
        consumer = Consumer({**settings.kafka_config(), "group.id": f"read-{uuid.uuid4().hex[:6]}",
                             "auto.offset.reset": "earliest", "fetch.wait.max.ms": 10})
        consumer.subscribe([settings.topic(topics.RISK_SCORES)])
        while not consumer.assignment():  # in the group before the first score exists
            consumer.consume(1, 0.2)
        scorer = spawn("risk-scorer", env, work / "risk-scorer.log")
        evaluator = None
        try:
            seen = 0
            first = last = 0.0
            deadline = time.monotonic() + 600
            while seen < expected and time.monotonic() < deadline:
                got = sum(1 for m in consumer.consume(5000, 0.2) if m.error() is None)
                if got and not seen:
                    first = time.perf_counter()
                seen += got
                last = time.perf_counter() if got else last
            consumer.close()
            # Without stop-ship switches: the simulated deletes would otherwise switch the workflow off.
            policies = work / "policies"
            shutil.copytree(DEFAULT_POLICIES, policies)
            toml = policies / "workflows.toml"
            toml.write_text(re.sub(r"(?m)^stop_ship = .*$", "stop_ship = []", toml.read_text()))
            evaluator = spawn("policy-evaluator", {**env, "WARDEN_POLICIES_DIR": str(policies),
                                                   "WARDEN_GROUP_ID": f"pe-{uuid.uuid4().hex[:6]}"},
                              work / "evaluator.log")
            rtts = gate_rtts(settings, gate_calls)
        finally:
            for child in (scorer, evaluator):
                if child is not None:
                    child.terminate()
                    child.wait(30)
    rate = len(events) * (seen / expected) / (last - first) if last > first else 0.0
    return {"risk_service_events_per_s": round(rate), "risk_service_scores": seen,
            "gate_with_risk_rtt_p50_ms": round(percentile(rtts, 0.50), 1) if rtts else 0.0,
            "gate_with_risk_rtt_p95_ms": round(percentile(rtts, 0.95), 1) if rtts else 0.0}


def gate_rtts(settings: WardenSettings, calls: int) -> list[float]:
    """Allowed lookups, one after another: each verdict needs the decision and then the risk score."""
    rtts: list[float] = []
    with WardenClient(settings) as client:
        run = client.run("acme", "refund_ticket", "bench-agent")
        client.gate()
        _, first = run.authorize("crm", "lookup", {"customer_id": "warm-up"}, timeout_s=120, risk_timeout_s=60,
                                 approval_timeout_s=1)  # the evaluator joins its group and reads the backlog first
        if first.outcome != "allow":
            raise RuntimeError(f"the warm-up call was not allowed: {first}")
        for i in range(calls):
            t0 = time.perf_counter()
            _, verdict = run.authorize("crm", "lookup", {"customer_id": f"c{i}"}, timeout_s=10, risk_timeout_s=10,
                                       approval_timeout_s=1)
            rtts.append((time.perf_counter() - t0) * 1000)
            if verdict.risk is None or verdict.outcome != "allow":
                raise RuntimeError(f"call {i} was not allowed with a risk score: {verdict}")
    return rtts


def bench_memory(keys: int) -> dict[str, float]:
    """State bytes per distinct tenant x workflow x agent (each key: run facts dropped at completion,
    one usage entry per action, one threshold per workflow per partition)."""
    scorer = KeyedRisk(RiskScorerSettings().risk_config(), topics.PARTITIONS[topics.AGENT_EVENTS])
    at = datetime(2026, 11, 2, tzinfo=UTC)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for k in range(keys):
        base = {"tenant_id": f"t{k % 97}", "workflow": f"wf{k % 1009}", "agent_id": f"a{k}", "run_id": f"m{k}",
                "occurred_at": at + timedelta(seconds=k)}
        call = AgentEvent.model_validate({**base, "event_id": str(uuid.uuid4()), "event_type": "tool_call_requested",
                                          "step": 1, "body": {"call_id": f"c{k}", "tool": "payments",
                                                              "action": "refund", "params": '{"amount_usd": 12.5}'}})
        scorer.feed(call)
        scorer.feed(PolicyDecision(decision_id=f"d{k}", event_id=call.event_id, call_id=f"c{k}", run_id=f"m{k}",
                                   tenant_id=base["tenant_id"], decided_at=at, decision="allow", policy_ids=[],
                                   reason="", policy_version=""))
        scorer.feed(AgentEvent.model_validate({**base, "event_id": str(uuid.uuid4()), "event_type": "run_completed",
                                               "step": 2, "body": {"status": "succeeded"}}))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {f"risk_state_mb_at_{keys}_keys": round(used / 2**20, 1)}


def bench_risk(n_events: int, service: bool = False) -> dict[str, float]:
    """risk_events_per_s through the processor (and risk_service_events_per_s through the live service)."""
    messages = inputs(n_events)
    result = bench_processor(messages)
    if service:
        result.update(bench_service(messages))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--no-service", action="store_true", help="only the in-process processor")
    parser.add_argument("--keys", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    args = parser.parse_args()
    result: dict[str, object] = {"date": datetime.now(UTC).strftime("%Y-%m-%d"),
                                 "machine": f"{platform.machine()} {os.cpu_count()} cores", "events": args.events}
    figures = bench_risk(args.events, service=not args.no_service)
    print(f"processor: {figures['risk_events_per_s']:,.0f} events/s ({figures['risk_us_per_event']} us/event)",
          flush=True)
    if "risk_service_events_per_s" in figures:
        print(f"service: {figures['risk_service_events_per_s']:,.0f} events/s; gate with risk p50/p95 "
              f"{figures['gate_with_risk_rtt_p50_ms']} / {figures['gate_with_risk_rtt_p95_ms']} ms", flush=True)
    result.update(figures)
    for keys in args.keys:
        memory = bench_memory(keys)
        print(f"memory: {memory}", flush=True)
        result.update(memory)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
