"""Rollout benchmark: the SDK's release_for against an emit, the controller against its pure step, and how
long a rollback takes to reach an agent.

In one run, on one embedded Tansu broker:
  release_for  WardenClient.release_for(tenant, workflow, unit) with a rollout at 5% on the control topic,
               per call over fresh units, and WardenClient.emit of demo events, per call, on the same
               client: the ratio is release_for / emit (target <= 0.2).
  controller   the rollout-controller (the runtime's App, in this process) reading a backlog of the demo's
               agent events of a workflow under rollout, timed from its first to its last record, against
               controller.step over the same events in a loop (target >= 0.5 of the pure step). The events
               carry the routing headers the SDK writes (ADR 0019: the controller passes over tool calls
               without decoding them); the same backlog without headers (an older producer) is timed too.
               --repeat rounds, interleaved, best of each.
  rollback     a real `warden run rollout-controller` process; each round starts a rollout whose candidate
               costs twice the baseline, produces a step's runs, then the events that move every partition
               past the cut-off and its settle time: the gate-failing judgment. Visible = from handing those
               events to the producer to the SDK's release_for returning the baseline for a unit that was on
               the candidate (target p95 <= 1 s).
The last line printed is one JSON object with every figure.

    .venv/bin/python benchmarks/rollout.py --events 40000 --rounds 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Producer

from harness import cpu_model, percentile, service_env, spawn  # a sibling script, not a package
from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.headers import event_headers
from warden.core.partitioning import partition_for
from warden.core.records import RolloutAction, RolloutCommand
from warden.core.rollout_assign import BUCKETS, assign, bucket
from warden.core.rollout_book import RolloutBook
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.demo.agents import Platform
from warden.kafka.control import publish_control
from warden.replay.runner import default_rollout_config
from warden.rollout import controller
from warden.rollout.plan import Gates, RolloutPlan
from warden.rollout_controller.operate import Rollouts
from warden.rollout_controller.service import RolloutController, source
from warden.rollout_controller.settings import RolloutControllerSettings
from warden.sdk import WardenClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.rollout.helpers import run, traffic

WORKFLOW = "export_report"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def plan(start: datetime, **changes: object) -> RolloutPlan:
    base: dict[str, object] = {"workflow": WORKFLOW, "baseline": "v3", "candidate": "v4", "steps": (5, 25, 100),
                               "min_runs": 20, "hold_minutes": 10, "judge_every_minutes": 10, "start_at": start,
                               "gates": Gates(cost_increase_vs_baseline_max=0.2)}
    return RolloutPlan.model_validate({**base, **changes})


def start_record(p: RolloutPlan, command_id: str) -> controller.Control:
    return controller.command_record(RolloutCommand(command_id=command_id, action=RolloutAction.START,
                                                    workflow=p.workflow, plan=p.to_json(), rationale="bench"),
                                     "bench", p.start_at or T0)


def demo_events(n: int, prefix: str, p: RolloutPlan) -> list[AgentEvent]:
    """The demo's agents at the plan's first step (the pure assignment the SDK would give)."""
    book = RolloutBook()
    state = controller.ControllerState()
    _, outputs = controller.step(state, default_rollout_config(), start_record(p, f"{prefix}-start"))
    for output in outputs:
        if isinstance(output.record, controller.Control):
            book.apply(output.record)
    agents = Platform(5, T0, prefix, lambda tenant, workflow, unit: assign(book.get(workflow), workflow, unit))
    weights = {"export_report": 0.7, "refund_ticket": 0.1, "provision_access": 0.1, "triage_ticket": 0.1}
    return agents.until(None, weights, events=n)


@dataclass(frozen=True)
class Rate:
    """Events per second of wall time, and per second of this process's CPU time (what the load of the other
    processes on a shared machine changes least)."""

    wall: float
    cpu: float


def pure_rate(events: list[AgentEvent], p: RolloutPlan) -> Rate:
    config = default_rollout_config()
    state = controller.ControllerState()
    controller.step(state, config, start_record(p, "pure-start"))
    began, cpu = time.perf_counter(), time.process_time()
    for event in events:
        controller.step(state, config, event, "replay")
    return Rate(len(events) / (time.perf_counter() - began), len(events) / (time.process_time() - cpu))


def produce(settings: WardenSettings, events: list[AgentEvent], linger_ms: int = 20, headers: bool = True) -> None:
    """As the SDK produces (with the routing headers, ADR 0019); ``headers=False``: as an older producer."""
    wire = wire_for(settings)
    producer = Producer({**settings.producer_config(), "linger.ms": linger_ms, "enable.idempotence": True,
                         "acks": "all", "queue.buffering.max.messages": 1_000_000})
    topic = settings.topic(topics.AGENT_EVENTS)
    for event in events:
        while True:
            try:
                producer.produce(topic, wire.encode(event), key=event.run_id.encode(),
                                 headers=event_headers(event) if headers else None)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)


def live_rate(settings: WardenSettings, events: list[AgentEvent], p: RolloutPlan, headers: bool = True,
              suffix: str = "live") -> Rate:
    """The runtime's controller reading the backlog (on topics of its own): first record to last, from its state."""
    settings = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{suffix}."})
    ensure_topics(settings)
    publish_control(settings, start_record(p, "live-start"), "rollout-command:live-start", "start")
    produce(settings, events, headers=headers)
    last: dict[str, int] = {}
    parts = topics.PARTITIONS[topics.AGENT_EVENTS]
    for event in events:
        key = source(partition_for(event.run_id, parts))
        last[key] = max(last.get(key, 0), int(event.occurred_at.timestamp() * 1000))
    fields = {**settings.model_dump(), "group_id": f"bench-{uuid.uuid4().hex[:8]}", "rollout_idle_after_s": 30.0}
    app = RolloutController(RolloutControllerSettings(**fields)).start()
    stop = threading.Event()
    runner = threading.Thread(target=app.serve, args=(stop,), daemon=True)  # as `warden run` runs it
    runner.start()
    try:
        first = None
        cpu = 0.0
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            newest = app.state.clock.newest if app.task.slots else {}
            if first is None and any(v is not None for v in newest.values()):
                first, cpu = time.perf_counter(), time.process_time()
            if first is not None and all(newest.get(k) == v for k, v in last.items()):
                return Rate(len(events) / (time.perf_counter() - first), len(events) / (time.process_time() - cpu))
            time.sleep(0.01)  # not more often: this thread shares the GIL with the controller's
        raise SystemExit("the controller did not read the backlog within 300 s")
    finally:
        stop.set()
        runner.join(30)


def sdk_figures(client: WardenClient, events: list[AgentEvent], calls: int) -> tuple[float, float]:
    units = [f"acme/user-{i}" for i in range(calls)]
    client.release_for("acme", WORKFLOW, "warm")
    release_ns: list[float] = []
    for unit in units:
        began = time.perf_counter_ns()
        client.release_for("acme", WORKFLOW, unit)
        release_ns.append(time.perf_counter_ns() - began)
    emit_ns: list[float] = []
    for event in events[:calls]:
        began = time.perf_counter_ns()
        client.emit(event)
        emit_ns.append(time.perf_counter_ns() - began)
    client.flush(60)
    return percentile(release_ns, 0.5), percentile(emit_ns, 0.5)


def rollback_round(settings: WardenSettings, operated: Rollouts, client: WardenClient, trigger: Producer,
                   n: int) -> float:
    start = T0 + timedelta(days=30 + n)
    p = plan(start)
    operated.send(RolloutAction.START, WORKFLOW, "bench", f"round {n}", p)
    unit = next(u for u in (f"globex/user-{i}" for i in range(10_000)) if bucket(WORKFLOW, u) < 5 * BUCKETS // 100)
    deadline = time.monotonic() + 30
    while client.release_for("globex", WORKFLOW, unit).release != "v4":
        if time.monotonic() > deadline:
            raise SystemExit("the SDK never saw the rollout start")
        time.sleep(0.005)
    steps = traffic(start + timedelta(seconds=1), 110, every_s=5, candidate_cost=0.10, baseline_cost=0.05,
                    vary=0.005, prefix=f"b{n}-")
    steps = [e.model_copy(update={"workflow": WORKFLOW}) for e in steps]
    produce(settings, steps)
    time.sleep(1.0)  # the controller has read the step's runs and gone idle below the cut-off
    cutoff = start + timedelta(minutes=p.hold_minutes)
    past = cutoff + timedelta(seconds=11)
    parts = topics.PARTITIONS[topics.AGENT_EVENTS]
    triggers: list[AgentEvent] = []
    for i in range(200):
        run_id = f"t{n}-{i}"
        if partition_for(run_id, parts) in {partition_for(e.run_id, parts) for e in triggers}:
            continue
        triggers.append(run(run_id, "v3", past, workflow=WORKFLOW)[0])
        if len(triggers) == parts:
            break
    wire = wire_for(settings)
    encoded = [(wire.encode(e), e.run_id.encode()) for e in triggers]
    topic = settings.topic(topics.AGENT_EVENTS)
    began = time.perf_counter()  # handed to a producer that is already connected, as an agent's is
    for value, key in encoded:
        trigger.produce(topic, value, key=key)
    trigger.flush(10)
    deadline = time.monotonic() + 30
    while client.release_for("globex", WORKFLOW, unit).release != "v3":
        if time.monotonic() > deadline:
            raise SystemExit(f"round {n}: the rollback never reached the SDK")
        time.sleep(0.0005)
    visible = time.perf_counter() - began
    while (stage := operated.stage(WORKFLOW)) is None or stage.status.live:  # its own view, for the next start
        time.sleep(0.01)
    return visible


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40_000, help="backlog the controller reads")
    parser.add_argument("--calls", type=int, default=50_000, help="release_for and emit calls timed")
    parser.add_argument("--rounds", type=int, default=20, help="rollbacks timed")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of pure step and controller runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, TansuBroker(free_port(), log_path=Path(tmp) / "tansu.log") as broker:
        settings = WardenSettings(data_dir=Path(tmp) / "w", kafka_bootstrap_servers=broker.bootstrap,
                                  topic_prefix=f"rb{uuid.uuid4().hex[:6]}.", kafka_extra_config={"log_level": 0})
        ensure_topics(settings)
        p = plan(T0)
        events = demo_events(args.events, "rb", p)
        # Interleaved, best of --repeat each: the machine is shared, a ratio of two figures taken minutes
        # apart says more about the neighbours than about the controller.
        pures: list[Rate] = []
        lives: list[Rate] = []
        bares: list[Rate] = []
        for n in range(args.repeat):
            pures.append(pure_rate(events, p))
            lives.append(live_rate(settings, events, p, suffix=f"h{n}"))
            bares.append(live_rate(settings, events, p, headers=False, suffix=f"n{n}"))
            print(f"round {n + 1} (events/s of wall time; of CPU time): pure step {pures[-1].wall:,.0f}; "
                  f"{pures[-1].cpu:,.0f}, controller {lives[-1].wall:,.0f}; {lives[-1].cpu:,.0f}, without routing "
                  f"headers {bares[-1].wall:,.0f}; {bares[-1].cpu:,.0f}", flush=True)
        pure, live, bare = (max(r.wall for r in rates) for rates in (pures, lives, bares))
        pure_cpu, live_cpu, bare_cpu = (max(r.cpu for r in rates) for rates in (pures, lives, bares))
        print(f"pure step: {pure:,.0f} events/s over {len(events):,} demo events (best of {args.repeat}); "
              f"{pure_cpu:,.0f} per CPU second")
        print(f"rollout-controller on the runtime: {live:,.0f} events/s ({live / pure:.2f}x the pure step); "
              f"per CPU second {live_cpu:,.0f} ({live_cpu / pure_cpu:.2f}x)")
        print(f"  the same events without routing headers (an older producer): {bare:,.0f} events/s "
              f"({bare / pure:.2f}x); per CPU second {bare_cpu:,.0f} ({bare_cpu / pure_cpu:.2f}x)")

        fresh = settings.model_copy(update={"topic_prefix": f"rr{uuid.uuid4().hex[:6]}."})
        ensure_topics(fresh)
        env = service_env(fresh, WARDEN_ROLLOUT_IDLE_AFTER_S="0.2")
        child = spawn("rollout-controller", env, Path(tmp) / "controller.log")
        try:
            with WardenClient(fresh) as client:
                operated = Rollouts(fresh)
                try:
                    trigger = Producer({**fresh.producer_config(), "linger.ms": 0, "enable.idempotence": True,
                                        "acks": "all"})
                    trigger.list_topics(timeout=10)  # connected before the first round
                    visible = [rollback_round(fresh, operated, client, trigger, n) for n in range(args.rounds)]
                    operated.send(RolloutAction.START, WORKFLOW, "bench", "sdk figures", plan(T0 + timedelta(days=400)))
                    release_ns, emit_ns = sdk_figures(client, demo_events(args.calls, "sdk", p), args.calls)
                finally:
                    operated.close()
        finally:
            child.terminate()
            child.wait(30)
    print(f"release_for: p50 {release_ns:,.0f} ns; emit: p50 {emit_ns:,.0f} ns ({release_ns / emit_ns:.3f}x an emit)")
    print(f"rollback visible to the SDK: p50 {percentile(visible, 0.5):.3f} s, p95 {percentile(visible, 0.95):.3f} s "
          f"over {len(visible)} rounds")
    print(json.dumps({
        "cpu": cpu_model(), "events": len(events), "calls": args.calls, "rounds": len(visible),
        "release_for_ns_p50": round(release_ns), "emit_ns_p50": round(emit_ns),
        "release_for_vs_emit": round(release_ns / emit_ns, 4),
        "controller_events_per_s": round(live), "pure_step_events_per_s": round(pure),
        "controller_vs_pure": round(live / pure, 3),
        "controller_no_headers_events_per_s": round(bare), "controller_no_headers_vs_pure": round(bare / pure, 3),
        "controller_events_per_cpu_s": round(live_cpu), "pure_step_events_per_cpu_s": round(pure_cpu),
        "controller_vs_pure_cpu": round(live_cpu / pure_cpu, 3),
        "controller_no_headers_vs_pure_cpu": round(bare_cpu / pure_cpu, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "rollback_visible_s_p50": round(percentile(visible, 0.5), 4),
        "rollback_visible_s_p95": round(percentile(visible, 0.95), 4),
    }))


if __name__ == "__main__":
    main()
