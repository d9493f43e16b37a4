"""Whole-stack benchmark: every service of `warden up` on its embedded broker, under a steady input rate.

In one run:
  raw        the same confluent-kafka client producing and consuming the same encoded demo events on the
             stack's broker, no processing (benchmarks/pipeline.py's raw_rate): the transport's ceiling;
  steps      for each input rate in --rates, for --duration seconds (default 10 minutes; --short: 1 minute):
             simulated demo events stamped with the wall time, emitted through the SDK (routing headers
             included) by a load process of its own, and every --probe-every seconds one probe whose alert
             must reach a loopback on-call receiver: a run past its step limit (events lane) or an
             out-of-inventory call (through the policy-evaluator's decision). Every 5 s: each consumer
             group's lag (high watermark minus committed offset over its input partitions), and each
             process's CPU time from /proc.
A step is sustained when the load achieved >= 95% of its rate, every probe alerted with p95 latency <= 1 s,
and every group's lag over the step's second half stayed within --lag-bound-s seconds of input plus the 5 s
between a service's offset commits (Tansu's
"latest" offset is low by up to one batch, ADR 0007's caveat: a small overstatement of what is read).
Stepping stops at the first step that is not sustained. Per service: CPU µs per input event in the step.
The last line printed is one JSON object with every figure.

    .venv/bin/python benchmarks/stack.py --short --rates 500,1000,2000      # a quick look, ~5 min
    .venv/bin/python benchmarks/stack.py --rates 500,1000,2000,3000,4000    # 10 minutes per step
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from alerts import probe  # sibling scripts, not a package
from harness import alert_run, percentile
from pipeline import raw_rate
from rollout import cpu_model
from warden.broker.tansu import free_port
from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.headers import event_headers
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.demo.simulator import Simulator
from warden.kafka import clients
from warden.sdk import WardenClient
from warden.sdk.client import PRODUCER_DEFAULTS
from warden.stack import SERVICES, Stack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.notifier.receiver import Receiver

SAMPLE_S = 5.0


def load(bootstrap: str, prefix: str, data_dir: str, rate: int, seconds: float, done: Any, headers: bool) -> None:
    """The agents: demo events emitted through the SDK at ``rate``, each with a fresh id and run and the wall
    time, in a process of their own (on a deployment they run on other machines). ``headers=False``: the SDK's
    producer without the routing headers (what an older producer writes), to compare."""
    settings = WardenSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, data_dir=Path(data_dir),
                              kafka_extra_config={"log_level": 0})
    pool = list(Simulator(11, datetime.now(UTC), "load").events(20_000))
    produced = 0
    with WardenClient(settings, max_wait_s=30) as client:
        wire, topic = client.wire, settings.topic(topics.AGENT_EVENTS)
        bare = clients.raw_producer({**settings.producer_config(), **PRODUCER_DEFAULTS,
                                     "queue.buffering.max.messages": 1_000_000})

        def older(event: AgentEvent) -> None:
            bare.produce(topic, wire.encode(event), key=event.run_id.encode())
            bare.poll(0)

        emit = client.emit if headers else older
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate)
            now = datetime.now(UTC)
            while produced < due:
                e = pool[produced % len(pool)]
                emit(e.model_copy(update={"event_id": str(uuid.uuid4()), "occurred_at": now,
                                          "run_id": f"{e.run_id}-{produced // len(pool)}"}))
                produced += 1
            time.sleep(0.002)
        client.flush(60)
        bare.flush(60)
    done.value = produced


@dataclass
class Groups:
    """Committed offsets of every consumer group against the high watermarks of its input partitions."""

    settings: WardenSettings
    admin: AdminClient = field(init=False)
    probe: Consumer = field(init=False)

    def __post_init__(self) -> None:
        self.admin = clients.admin(self.settings)
        self.probe = Consumer({**self.settings.kafka_config(), "group.id": f"lag-{uuid.uuid4().hex[:6]}"})

    def names(self) -> list[str]:
        listed = self.admin.list_consumer_groups(request_timeout=10).result()
        return sorted(g.group_id for g in listed.valid if not g.group_id.startswith(("raw-", "lag-")))

    def lags(self) -> dict[str, int]:
        """Records each group has still to read, over the topics it commits (changelogs left out)."""
        out: dict[str, int] = {}
        marks: dict[tuple[str, int], int] = {}
        for group in self.names():
            try:
                found = self.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
            except Exception:  # a group mid-rebalance: next sample
                continue
            total, seen = 0, False
            for tp in found.topic_partitions:
                prefix = self.settings.topic_prefix
                if tp.topic.endswith(".changelog") or tp.offset < 0 or not tp.topic.startswith(prefix):
                    continue
                where = (tp.topic, tp.partition)
                if where not in marks:
                    marks[where] = self.probe.get_watermark_offsets(TopicPartition(*where), timeout=5)[1]
                total += max(0, marks[where] - tp.offset)
                seen = True
            if seen:
                out[group] = total
        return out


class Cpu:
    """CPU seconds (user + system, every thread) of each process, read from /proc."""

    def __init__(self, processes: dict[str, psutil.Process]) -> None:
        self.processes = processes
        self.last: dict[str, float] = {}

    def read(self) -> dict[str, float]:
        """A process that has exited (the load generator at the end of its step) keeps its last reading."""
        for name, p in self.processes.items():
            try:
                times = p.cpu_times()
                self.last[name] = times.user + times.system
            except psutil.Error:
                pass
        return dict(self.last)


def step(stack: Stack, settings: WardenSettings, receiver: Receiver, cpu: Cpu, groups: Groups, rate: int,
         seconds: float, probe_every: float, lag_bound_s: float, n: int, headers: bool) -> dict[str, Any]:
    done = multiprocessing.get_context("spawn").Value("q", 0)
    worker = multiprocessing.get_context("spawn").Process(
        target=load, args=(stack.bootstrap, settings.topic_prefix, str(settings.data_dir), rate, seconds, done,
                           headers))
    wire = wire_for(settings)
    producer = clients.raw_producer({**settings.producer_config(), "linger.ms": 0, "enable.idempotence": True,
                                     "acks": "all", "log_level": 0})
    topic = settings.topic(topics.AGENT_EVENTS)
    sent: dict[str, float] = {}
    lag_series: dict[str, list[tuple[float, int]]] = {}
    worker.start()
    psutil_worker = psutil.Process(worker.pid)
    cpu.processes["load generator"] = psutil_worker
    before = cpu.read()
    start = time.monotonic()
    next_probe, next_sample, probes = start + 2.0, start + SAMPLE_S, 0
    while worker.is_alive() or time.monotonic() - start < seconds:
        now = time.monotonic()
        if now >= next_probe and now - start < seconds:
            p = probe("runaway" if probes % 2 == 0 else "unauthorized", n * 100_000 + probes)
            producer.produce(topic, wire.encode(p), key=p.run_id.encode(),
                             headers=event_headers(p) if headers else None)
            producer.poll(0)
            sent[p.run_id] = time.time()
            probes += 1
            next_probe += probe_every
        if now >= next_sample:
            cpu.read()
            for group, lag in groups.lags().items():
                lag_series.setdefault(group, []).append((now - start, lag))
            next_sample += SAMPLE_S
        time.sleep(0.01)
        if now - start > seconds + 120:
            raise SystemExit("the load process did not finish within 2 minutes of its step")
    elapsed = time.monotonic() - start
    after = cpu.read()
    worker.join(30)
    produced = int(done.value)
    producer.flush(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(alerted(receiver, sent)) < len(sent):
        time.sleep(0.2)
    arrived = alerted(receiver, sent)
    latencies = [arrived[r] - sent[r] for r in sent if r in arrived]
    # what a reader that is caught up can still show: --lag-bound-s of input, plus the records read since its
    # last commit (the runtime commits at its checkpoints, every 5 s by default)
    bound = max(1000, int((lag_bound_s + 5.0) * rate))
    worst = {g: max((lag for t, lag in s if t >= seconds / 2), default=0) for g, s in lag_series.items()}
    achieved = produced / seconds
    p95 = percentile(latencies, 0.95) if latencies else float("inf")
    sustained = (achieved >= 0.95 * rate and len(latencies) == len(sent) and p95 <= 1.0
                 and all(w <= bound for w in worst.values()))
    events = max(1, produced + probes)
    cpu_us = {name: round((after[name] - before.get(name, 0.0)) / events * 1e6, 1) for name in after}
    cores = {name: round((after[name] - before.get(name, 0.0)) / elapsed, 2) for name in after}
    return {"rate": rate, "seconds": round(elapsed, 1), "achieved_events_per_s": round(achieved),
            "probes_sent": len(sent), "probes_alerted": len(latencies),
            "alert_latency_p50_s": round(percentile(latencies, 0.5), 3) if latencies else None,
            "alert_latency_p95_s": round(p95, 3) if latencies else None,
            "lag_bound": bound, "worst_lag_second_half": worst, "sustained": sustained,
            "cpu_us_per_event": cpu_us, "cores": cores, "load_average_1m": round(os.getloadavg()[0], 2)}


def alerted(receiver: Receiver, sent: dict[str, float]) -> dict[str, float]:
    arrived: dict[str, float] = {}
    for body, at in zip(receiver.received(), receiver.arrivals, strict=False):
        run = alert_run(body)
        if body["status"] == "firing" and run in sent:
            arrived.setdefault(run, at)
    return arrived


def drain(groups: Groups, timeout_s: float = 120.0) -> None:
    """Between steps: until every group has (nearly) caught up, so a step does not inherit a backlog."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(lag <= 1000 for lag in groups.lags().values()):
            return
        time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="500,1000,2000,3000,4000,6000", help="input rates to step through")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds per rate step (default 10 min)")
    parser.add_argument("--short", action="store_true", help="60 s per step: a quick look, not the target")
    parser.add_argument("--probe-every", type=float, default=0.5)
    parser.add_argument("--lag-bound-s", type=float, default=2.0, help="lag allowed, in seconds of input")
    parser.add_argument("--raw-events", type=int, default=100_000)
    parser.add_argument("--no-headers", action="store_true",
                        help="the load without routing headers (ADR 0019), as older producers write it")
    parser.add_argument("--storage", choices=("s3", "memory"), default="s3", help="the embedded broker's storage")
    args = parser.parse_args()
    seconds = 60.0 if args.short else args.duration
    rates = [int(r) for r in args.rates.split(",")]
    work = Path(tempfile.mkdtemp(prefix="warden-stack-bench-"))
    receiver = Receiver().start()
    settings = WardenSettings(data_dir=work / "data", embedded_broker_port=free_port(), query_port=free_port(),
                              topic_prefix="stack.", embedded_storage=args.storage, kafka_extra_config={"log_level": 0})
    env = {"WARDEN_WEBHOOK_URL": receiver.url,  # the webhook body `alerted` parses
           "WARDEN_APPROVALS_PORT": str(free_port()),
           "WARDEN_APPROVER_TOKENS": json.dumps({"bench@warden.local": uuid.uuid4().hex})}
    stack = Stack(settings, env=env).start()
    supervise_stop = threading.Event()
    threading.Thread(target=stack.supervise, args=(supervise_stop,), daemon=True).start()
    steps: list[dict[str, Any]] = []
    try:
        live = stack.client_settings()
        processes = {name: psutil.Process(child.process.pid) for name, child in stack.children.items()}
        if stack.broker is not None:
            # EmbeddedBroker.pids() lists SeaweedFS first (on s3), then Tansu: named, since "broker0" was read as
            # Tansu's CPU when it was SeaweedFS's
            names = ["seaweedfs", "tansu"] if stack.broker.storage is not None else ["tansu"]
            for name, pid in zip(names, stack.broker.pids(), strict=True):
                processes[name] = psutil.Process(pid)
        cpu = Cpu(processes)
        groups = Groups(live)
        wire = wire_for(live)
        sample = list(Simulator(11, datetime.now(UTC), "raw").events(args.raw_events))[: args.raw_events]
        payloads = [(e.run_id.encode(), wire.encode(e)) for e in sample]
        raw = raw_rate(live, payloads)
        print(f"raw produce+consume on the stack's broker: {raw:,.0f} events/s "
              f"({statistics.mean(len(v) for _, v in payloads):.0f} bytes avg)", flush=True)
        warm(live, receiver)
        for n, rate in enumerate(rates):
            drain(groups)
            figures = step(stack, live, receiver, cpu, groups, rate, seconds, args.probe_every, args.lag_bound_s, n,
                           not args.no_headers)
            steps.append(figures)
            print(f"{rate:,}/s for {figures['seconds']:.0f} s: achieved {figures['achieved_events_per_s']:,}/s, "
                  f"alerts {figures['probes_alerted']}/{figures['probes_sent']} "
                  f"p95 {figures['alert_latency_p95_s']} s, "
                  f"worst lag {figures['worst_lag_second_half']} (bound {figures['lag_bound']}): "
                  f"{'sustained' if figures['sustained'] else 'NOT sustained'}", flush=True)
            print(f"  CPU µs per event: {figures['cpu_us_per_event']}", flush=True)
            if not figures["sustained"]:
                break
    finally:
        supervise_stop.set()
        stack.stop()
        receiver.stop()
    held = [s for s in steps if s["sustained"]]
    best = held[-1] if held else None
    shown = best or (steps[0] if steps else {})
    sustained = best["achieved_events_per_s"] if best else 0
    print(json.dumps({
        "cpu": cpu_model(), "date": datetime.now(UTC).strftime("%Y-%m-%d"), "storage": args.storage,
        "routing_headers": not args.no_headers,
        "step_seconds": seconds, "services": list(SERVICES), "raw_events_per_s": round(raw),
        "sustained_events_per_s": sustained, "sustained_ratio": round(sustained / raw, 4),
        "alert_latency_p95_s": shown.get("alert_latency_p95_s"), "cpu_us_per_event": shown.get("cpu_us_per_event"),
        "load_average_1m": round(os.getloadavg()[0], 2), "steps": steps, "logs": str(work)}))


def warm(settings: WardenSettings, receiver: Receiver) -> None:
    """Every service has joined its group and the alert path answers once before the clock starts."""
    wire = wire_for(settings)
    producer = clients.raw_producer({**settings.producer_config(), "linger.ms": 0})
    first = probe("runaway", 9_999_999)
    deadline = time.monotonic() + 120
    sent = {first.run_id: time.time()}
    producer.produce(settings.topic(topics.AGENT_EVENTS), wire.encode(first), key=first.run_id.encode())
    producer.flush(10)
    while first.run_id not in alerted(receiver, sent):
        if time.monotonic() > deadline:
            raise SystemExit("no warm-up alert within 120 s: see the stack's logs")
        time.sleep(0.2)


if __name__ == "__main__":
    main()
