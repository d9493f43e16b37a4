"""Alerting benchmark: threshold-crossing event -> alert at a local on-call receiver, under load.

In one run, on one embedded Tansu broker:
  latency    real `warden run policy-evaluator`, `warden run anomaly-alerter` and `warden run notifier`
             processes; a background load of simulated agent events (default 5,000 events/s, stamped
             with the current time, fresh run ids) and, every --probe-every seconds, one probe: either an
             event that takes a new run past its step limit (runaway_steps, events topic only) or an
             out-of-inventory tool call (unauthorized_action, through the evaluator's decision).
             Latency = arrival of the probe's alert at a loopback HTTP receiver (Alertmanager webhook
             format) minus the wall time the probe was handed to the producer.
  throughput the alerter (in this process) reading a backlog of demo events and their decisions from
             the broker, timed from its first to its last processed record.
The last line printed is one JSON object with every figure.

    .venv/bin/python benchmarks/alerts.py --rate 5000 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psutil
from confluent_kafka import Producer

from harness import alert_run, percentile, service_env, spawn  # a sibling script, not a package
from warden.anomaly_alerter.processor import lanes_for
from warden.anomaly_alerter.service import AnomalyAlerter
from warden.anomaly_alerter.settings import AnomalyAlerterSettings
from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.settings import WardenSettings
from warden.core.wire import Wire, wire_for
from warden.demo.simulator import Simulator
from warden.kafka import configs
from warden.policy.bundle import DEFAULT_POLICIES, load_bundle
from warden.policy_evaluator.processor import EvaluatorState, step
from warden.sdk.client import PRODUCER_DEFAULTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.notifier.receiver import Receiver

SERVICES = ("policy-evaluator", "anomaly-alerter", "notifier")


def probe(kind: str, n: int) -> AgentEvent:
    now = datetime.now(UTC)
    run_id = f"probe-{kind}-{n:05d}"
    base = {"event_id": str(uuid.uuid4()), "occurred_at": now, "tenant_id": "probe-tenant", "run_id": run_id,
            "agent_id": "probe-agent"}
    if kind == "runaway":
        return AgentEvent.model_validate({**base, "event_type": "llm_call", "workflow": "refund_ticket", "step": 51,
                                          "body": {"model": "gpt-4o-mini", "provider": "openai", "input_tokens": 1,
                                                   "output_tokens": 1, "latency_ms": 1.0, "cost_usd": 0.0}})
    return AgentEvent.model_validate({**base, "event_type": "tool_call_requested", "workflow": "export_report",
                                      "step": 2, "body": {"call_id": f"call-{run_id}", "tool": f"iam{n}",
                                                          "action": "grant_access", "params": "{}"}})


class CpuSampler:
    """Cores each process used in every interval: shows whether a cost grows during the run."""

    def __init__(self, processes: dict[str, psutil.Process], interval_s: float) -> None:
        self.processes, self.interval_s = processes, interval_s
        self.series: dict[str, list[float]] = {name: [] for name in processes}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> CpuSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last = {name: sum(p.cpu_times()[:2]) for name, p in self.processes.items()}
        while not self._stop.wait(self.interval_s):
            for name, p in self.processes.items():
                now = sum(p.cpu_times()[:2])
                self.series[name].append(round((now - last[name]) / self.interval_s, 2))
                last[name] = now


def background(wire: Wire, rate: int, seconds: float) -> tuple[float, list[tuple[bytes, bytes]]]:
    """The whole background load encoded before the clock starts, each event stamped with the wall
    time it is scheduled to be sent: the load generator then costs a produce() per event, not an
    encode, since on a real deployment the agents publishing 5,000 events/s run on other machines."""
    pool = list(Simulator(11, datetime.now(UTC), "bg").events(50_000))
    count = int(rate * seconds) + 1
    began = time.perf_counter()
    for e in pool[:1000]:
        wire.encode(e)
    per_event = (time.perf_counter() - began) / 1000
    start_wall = time.time() + 1.0 + 1.5 * per_event * count
    load = []
    for i in range(count):
        e = pool[i % len(pool)]
        e = e.model_copy(update={"occurred_at": datetime.fromtimestamp(start_wall + i / rate, UTC),
                                 "run_id": f"{e.run_id}-{i // len(pool)}"})
        load.append((e.run_id.encode(), wire.encode(e)))
    if time.time() > start_wall:
        raise SystemExit("encoding the background load took longer than planned; its time stamps would be late")
    return start_wall, load


def latency(settings: WardenSettings, work: Path, rate: int, seconds: float, probe_every: float,
            broker_pid: int, linger_ms: int) -> dict[str, object]:
    receiver = Receiver().start()
    env = service_env(settings, WARDEN_WEBHOOK_URL=receiver.url)  # the webhook body it parses
    services = [spawn(name, env, work / f"{name}.log") for name in SERVICES]
    wire = wire_for(settings)
    producer = Producer({**configs.producer_config(settings), **PRODUCER_DEFAULTS, "linger.ms": linger_ms,
                         "queue.buffering.max.messages": 1_000_000})
    topic = settings.topic(topics.AGENT_EVENTS)
    sent: dict[str, float] = {}
    try:
        # warm-up: every service joined its group and answered one probe before the clock starts
        warm = probe("runaway", 99_999)
        producer.produce(topic, wire.encode(warm), key=warm.run_id.encode())
        producer.flush(5)
        deadline = time.monotonic() + 90
        while not any(alert_run(b) == warm.run_id for b in receiver.received()):
            if time.monotonic() > deadline:
                raise SystemExit(f"no warm-up alert within 90 s; see the logs in {work}")
            time.sleep(0.1)
        start_wall, load = background(wire, rate, seconds)
        time.sleep(max(0.0, start_wall - time.time()))
        processes = {name: psutil.Process(p.pid) for name, p in zip(SERVICES, services, strict=True)}
        processes.update({"broker": psutil.Process(broker_pid), "load generator": psutil.Process()})
        cpu_before = {name: sum(p.cpu_times()[:2]) for name, p in processes.items()}
        sampler = CpuSampler(processes, 10.0).start()
        start = time.monotonic()
        produced = probes = 0
        next_probe = start + probe_every
        while (elapsed := time.monotonic() - start) < seconds:
            due = min(len(load), int(elapsed * rate))
            while produced < due:
                key, value = load[produced]
                producer.produce(topic, value, key=key)
                produced += 1
            if time.monotonic() >= next_probe:
                p = probe("runaway" if probes % 2 == 0 else "unauthorized", probes)
                producer.produce(topic, wire.encode(p), key=p.run_id.encode())
                sent[p.run_id] = time.time()
                probes += 1
                next_probe += probe_every
            producer.poll(0)
            time.sleep(0.002)
        loaded_s = time.monotonic() - start
        achieved = produced / loaded_s
        cpu = {name: round((sum(p.cpu_times()[:2]) - cpu_before[name]) / loaded_s, 2) for name, p in processes.items()}
        sampler.stop()
        print(f"CPU cores used during the {loaded_s:.0f} s under load: {cpu}", flush=True)
        for name, series in sampler.series.items():
            print(f"  {name:17s} cores per 10 s: {' '.join(f'{c:.2f}' for c in series)}", flush=True)
        producer.flush(30)
        time.sleep(5)  # the last probes' alerts
        arrived: dict[str, float] = {}
        for body, at in zip(receiver.received(), receiver.arrivals, strict=True):
            run = alert_run(body)
            if body["status"] == "firing" and run in sent:
                arrived.setdefault(run, at)
        runaway = [arrived[r] - sent[r] for r in sent if r in arrived and "runaway" in r]
        unauthorized = [arrived[r] - sent[r] for r in sent if r in arrived and "unauthorized" in r]
        both = runaway + unauthorized
        halfway = min(sent.values()) + seconds / 2
        first = [arrived[r] - sent[r] for r in sent if r in arrived and sent[r] < halfway]
        second = [arrived[r] - sent[r] for r in sent if r in arrived and sent[r] >= halfway]
        if not both:
            raise SystemExit(f"no probe alert arrived; see the logs in {work}")
        return {"background_events_per_s": round(achieved), "probes_sent": len(sent), "probes_alerted": len(both),
                "alert_latency_p50_s": round(percentile(both, 0.5), 3),
                "alert_latency_p95_s": round(percentile(both, 0.95), 3),
                "alert_latency_max_s": round(max(both), 3),
                "events_lane_p50_s": round(percentile(runaway, 0.5), 3) if runaway else -1,
                "events_lane_p95_s": round(percentile(runaway, 0.95), 3) if runaway else -1,
                "decisions_lane_p50_s": round(percentile(unauthorized, 0.5), 3) if unauthorized else -1,
                "decisions_lane_p95_s": round(percentile(unauthorized, 0.95), 3) if unauthorized else -1,
                "first_half_p95_s": round(percentile(first, 0.95), 3) if first else -1,
                "second_half_p95_s": round(percentile(second, 0.95), 3) if second else -1,
                "producer_linger_ms": linger_ms, "cpu_cores": cpu, "broker_cores_per_10s": sampler.series["broker"],
                "load_average_1m": round(os.getloadavg()[0], 2)}
    finally:
        for service in services:
            service.terminate()
        for service in services:
            try:
                service.wait(15)
            except subprocess.TimeoutExpired:
                service.kill()
        receiver.stop()


def throughput(settings: WardenSettings, events: int) -> float:
    """A backlog of demo events and the decisions the evaluator's processor gives them, then the alerter."""
    settings = settings.model_copy(update={"topic_prefix": "thru."})
    ensure_topics(settings)
    wire = wire_for(settings)
    producer = Producer({**settings.kafka_config(), "linger.ms": 20, "queue.buffering.max.messages": 2_000_000})
    bundle = load_bundle(DEFAULT_POLICIES)
    state = EvaluatorState()
    records = steps = 0  # records on the topics; lane steps they take (a tool-call request feeds both lanes)
    for event in Simulator(3, datetime(2026, 11, 2, tzinfo=UTC), "thru").events(events):
        producer.produce(settings.topic(topics.AGENT_EVENTS), wire.encode(event), key=event.run_id.encode())
        records += 1
        steps += len(lanes_for(event))
        state, outputs = step(state, bundle, event)
        for out in outputs:
            if out.topic == topics.POLICY_DECISIONS:
                producer.produce(settings.topic(out.topic), wire.encode(out.record), key=out.key.encode())
                records += 1
                steps += 1
        if records % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)
    alerter = AnomalyAlerter(AnomalyAlerterSettings(**{**settings.model_dump(), "group_id": "thru"})).start()
    stop = threading.Event()
    thread = threading.Thread(target=alerter.run, args=(stop,), daemon=True)
    thread.start()
    first = 0.0
    deadline = time.monotonic() + 600
    while alerter.counters["processed"] < steps and time.monotonic() < deadline:
        if alerter.counters["processed"] and not first:
            first = time.perf_counter()
        time.sleep(0.005)
    last = time.perf_counter()
    stop.set()
    thread.join(30)
    if alerter.counters["processed"] < steps:
        raise SystemExit(f"the alerter processed {alerter.counters['processed']} of {steps} lane steps in 600 s")
    return records / (last - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=5000, help="background events per second")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="how long the load runs (the embedded broker degrades past a minute: ADR 0007)")
    parser.add_argument("--linger-ms", type=int, default=PRODUCER_DEFAULTS["linger.ms"],
                        help="the load producer's linger (default: the SDK's)")
    parser.add_argument("--probe-every", type=float, default=0.5)
    parser.add_argument("--events", type=int, default=100_000, help="backlog size for the throughput part")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="warden-alerts-bench-"))
    with TansuBroker(free_port(), log_path=work / "tansu.log") as broker:
        settings = WardenSettings(data_dir=work / "data", kafka_bootstrap_servers=broker.bootstrap,
                                  topic_prefix="abench.", kafka_extra_config={"log_level": 0})
        ensure_topics(settings)
        assert broker.process is not None
        figures = latency(settings, work, args.rate, args.seconds, args.probe_every, broker.process.pid,
                          args.linger_ms)
        print(f"latency under {figures['background_events_per_s']} events/s: p50 {figures['alert_latency_p50_s']} s, "
              f"p95 {figures['alert_latency_p95_s']} s ({figures['probes_alerted']}/{figures['probes_sent']} probes)",
              flush=True)
        rate = throughput(settings, args.events)
        print(f"alerter throughput: {rate:,.0f} records/s (events and decisions)", flush=True)
    report: dict[str, object] = dict(figures)
    report.update({"alerter_events_per_s": round(rate), "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores", "logs": str(work)})
    print(json.dumps(report))


if __name__ == "__main__":
    main()
