"""End-to-end pipeline benchmark: SDK -> Tansu -> ledger-sink -> ClickHouse (chDB), on this machine.

In one run it measures, on one embedded broker:
  raw      the same confluent-kafka client producing and consuming the same encoded events, no processing;
  e2e      N events emitted through the SDK and landed by a real `warden run ledger-sink` process,
           timed from the first emit until all N are queryable;
  latency  a paced stream (default 5,000 events/s, below capacity) with emit -> queryable latency per
           sampled event (ClickHouse's ingested_at minus the emit wall time);
  sdk      the caller-side cost of an emit (pre-built event) and of building + emitting through a Run, and of
           a bare confluent-kafka produce() of the same encoded bytes on the SDK's producer settings (the
           emit's floor; target: emit p50 <= 3x its p50); the SDK's CPU per event (this process's CPU time
           over the emits and the flush: every thread, librdkafka's included) in the e2e phase;
  modes    the same events emitted with each WARDEN_SDK_ENCODE (caller, delivery_thread) on fresh clients to a
           topic no one reads: emit p50 and SDK CPU per event of both, in this run.
--sdk-encode chooses the mode of the e2e, latency and sdk phases.
The last line printed is one JSON object with every figure.

    .venv/bin/python benchmarks/pipeline.py --events 100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
from confluent_kafka import Consumer, Producer

from harness import percentile, service_env, spawn  # a sibling script, not a package
from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core.events import AgentEvent
from warden.core.settings import WardenSettings
from warden.core.topics import AGENT_EVENTS, TopicSpec
from warden.core.wire import wire_for
from warden.demo.simulator import Simulator
from warden.ledger.endpoint import ENDPOINT_FILE
from warden.sdk import WardenClient
from warden.sdk.client import PRODUCER_DEFAULTS


def raw_rate(settings: WardenSettings, payloads: list[tuple[bytes, bytes]]) -> float:
    ensure_topics(settings, (TopicSpec("raw.bench", "bytes", "run_id"),))
    topic = settings.topic("raw.bench")
    consumer = Consumer({**settings.kafka_config(), "group.id": f"raw-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([topic])
    consumer.consume(1, 3.0)  # join the group before the clock starts
    producer = Producer({**settings.producer_config(), "enable.idempotence": True, "acks": "all", "linger.ms": 10,
                         "compression.type": "lz4", "queue.buffering.max.messages": 1_000_000})
    got = 0
    started = time.perf_counter()

    def produce() -> None:
        for i, (key, value) in enumerate(payloads):
            producer.produce(topic, value, key=key)
            if i % 10_000 == 0:
                producer.poll(0)
        producer.flush(60)

    sender = threading.Thread(target=produce)
    sender.start()
    deadline = time.monotonic() + 120
    while got < len(payloads) and time.monotonic() < deadline:
        got += sum(1 for m in consumer.consume(10_000, 0.2) if not m.error())
    elapsed = time.perf_counter() - started
    sender.join()
    consumer.close()
    return got / elapsed


def bare_produce(settings: WardenSettings, payloads: list[tuple[bytes, bytes]]) -> list[int]:
    """A bare confluent-kafka produce() of the same bytes, per call, on a producer with the SDK's settings: the
    floor under an emit (which also checks, redacts, encodes and adds the routing headers)."""
    producer = Producer({**settings.producer_config(), **PRODUCER_DEFAULTS, "queue.buffering.max.messages": 2_000_000})
    topic = settings.topic("raw.bench")  # raw_rate's topic: the ledger-sink does not read it
    producer.produce(topic, payloads[0][1], key=payloads[0][0])
    producer.flush(10)
    took: list[int] = []
    for key, value in payloads:
        t0 = time.perf_counter_ns()
        producer.produce(topic, value, key=key)
        took.append(time.perf_counter_ns() - t0)
    producer.flush(60)
    return took


def sdk_mode(settings: WardenSettings, events: list[AgentEvent], mode: str) -> tuple[float, float]:
    """emit p50 (ns) and the SDK's CPU per event (µs, emits + flush) with WARDEN_SDK_ENCODE=mode, to a topic of
    its own that the ledger-sink does not read."""
    alone = settings.model_copy(update={"topic_prefix": f"mode{uuid.uuid4().hex[:6]}.", "sdk_encode": mode})
    ensure_topics(alone, (TopicSpec(AGENT_EVENTS, "warden.AgentEvent", "run_id"),))
    with WardenClient(alone) as client:
        took, cpu = timed_emits(client, events)
    return percentile([float(n) for n in took], 0.50), cpu / len(events) * 1e6


def timed_emits(client: WardenClient, events: list[AgentEvent]) -> tuple[list[int], float]:
    """Each emit's caller-side time (ns), and the SDK's CPU seconds for the emits and the flush after them."""
    took: list[int] = []
    cpu = time.process_time()
    for event in events:
        t0 = time.perf_counter_ns()
        client.emit(event)
        took.append(time.perf_counter_ns() - t0)
    client.flush(60)
    return took, time.process_time() - cpu


class Sink:
    """A real `warden run ledger-sink` process; its peak RSS is sampled while it runs."""

    def __init__(self, settings: WardenSettings, log: Path) -> None:
        self.process = spawn("ledger-sink", service_env(settings, WARDEN_QUERY_PORT="0"), log)
        endpoint = settings.data_dir / ENDPOINT_FILE
        deadline = time.monotonic() + 60
        while not endpoint.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ledger-sink did not start; see {log}")
            time.sleep(0.05)
        found = json.loads(endpoint.read_text())
        self.url, self.headers = found["url"], {"Authorization": f"Bearer {found['token']}"}
        self.peak_rss = 0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        proc = psutil.Process(self.process.pid)
        while not self._stop.wait(0.1):
            try:
                self.peak_rss = max(self.peak_rss, proc.memory_info().rss)
            except psutil.Error:
                return

    def cpu_s(self) -> float:
        """CPU seconds the sink process has used (every thread, chDB's included)."""
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def scalar(self, sql: str) -> float:
        return float(str(self.rows(sql)[0][0]))

    def rows(self, sql: str) -> list[list[object]]:
        response = httpx.post(f"{self.url}/query", json={"sql": sql}, timeout=60, headers=self.headers)
        rows: list[list[object]] = response.json()["rows"]
        return rows

    def stop(self) -> None:
        self._stop.set()
        self.process.terminate()
        self.process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--latency-rate", type=int, default=5_000, help="events/s of the paced latency phase")
    parser.add_argument("--latency-seconds", type=float, default=6.0)
    parser.add_argument("--sdk-encode", choices=("caller", "delivery_thread"), default="caller",
                        help="WARDEN_SDK_ENCODE of the e2e, latency and sdk phases")
    parser.add_argument("--mode-events", type=int, default=50_000, help="events per mode in the modes phase")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    with TansuBroker(free_port(), log_path=work / "tansu.log") as broker:
        settings = WardenSettings(data_dir=work / "data", kafka_bootstrap_servers=broker.bootstrap,
                                  topic_prefix="bench.", sdk_encode=args.sdk_encode)
        ensure_topics(settings)
        events = list(Simulator(11, datetime.now(UTC), "bench").events(args.events))[: args.events]
        wire = wire_for(settings)
        payloads = [(e.run_id.encode(), wire.encode(e)) for e in events]
        raw = raw_rate(settings, payloads)
        print(f"raw produce+consume: {raw:,.0f} events/s ({len(payloads):,} events, "
              f"{statistics.mean(len(v) for _, v in payloads):.0f} bytes avg)", flush=True)

        sink = Sink(settings, work / "sink.log")
        emit_ns: list[int] = []
        count_sql = "SELECT count() FROM warden.agent_events"
        with WardenClient(settings) as client:
            # Warm-up: the sink joins its consumer group (a few seconds on Tansu) before the clock starts.
            warm = list(Simulator(13, datetime.now(UTC), "warm").events(200))
            for event in warm:
                client.emit(event)
            client.flush(60)
            while sink.scalar(count_sql) < len(warm):
                time.sleep(0.1)
            sink_cpu = sink.cpu_s()
            started = time.perf_counter()
            took, sdk_cpu = timed_emits(client, events)
            emit_ns.extend(took)
            deadline = time.monotonic() + 600
            while sink.scalar(count_sql) < len(warm) + len(events) and time.monotonic() < deadline:
                time.sleep(0.05)
            e2e_elapsed = time.perf_counter() - started
            sink_cpu = sink.cpu_s() - sink_cpu
            landed = int(sink.scalar(count_sql)) - len(warm)
            e2e = landed / e2e_elapsed
            print(f"end to end: {landed:,} events landed in {e2e_elapsed:.2f} s = {e2e:,.0f} events/s; ledger-sink "
                  f"CPU {sink_cpu / landed * 1e6:.1f} µs per event ({sink_cpu / e2e_elapsed:.2f} cores)", flush=True)
            bare_ns = bare_produce(settings, payloads)

            # Build + emit through the Run API (validation included): the cost an agent sees per call.
            run = client.run("acme", "refund_ticket", "bench-agent", run_id="bench-run-api")
            build_ns = []
            for _ in range(5_000):
                t0 = time.perf_counter_ns()
                run.llm_call("gpt-4o-mini", "openai", 812, 96, 640.0)
                build_ns.append(time.perf_counter_ns() - t0)

            # Paced latency phase: below capacity, so latency is the pipeline's, not a backlog's.
            paced = list(Simulator(12, datetime.now(UTC), "lat").events(
                int(args.latency_rate * args.latency_seconds)))
            sent_at: dict[str, float] = {}
            interval = 1.0 / args.latency_rate
            begin = time.perf_counter()
            for i, event in enumerate(paced):
                target = begin + i * interval
                ahead = target - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
                client.emit(event)
                if i % 20 == 0:
                    sent_at[event.event_id] = time.time()
            client.flush(60)
        expected = len(warm) + landed + 5_000 + len(paced)
        deadline = time.monotonic() + 120
        while sink.scalar(count_sql) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        ids = ",".join(f"'{i}'" for i in sent_at)
        rows = sink.rows("SELECT event_id, toUnixTimestamp64Milli(ingested_at) FROM warden.agent_events "
                         f"WHERE event_id IN ({ids})")
        latencies = [int(str(ms)) / 1000 - sent_at[str(eid)] for eid, ms in rows]
        peak_rss_mb = sink.peak_rss / 2**20
        sink.stop()
        modes = {mode: sdk_mode(settings, events[: args.mode_events], mode) for mode in ("caller", "delivery_thread")}

    emit_us = [n / 1000 for n in emit_ns]
    bare_p50 = percentile([float(n) for n in bare_ns], 0.50)
    emit_p50_ns = percentile([float(n) for n in emit_ns], 0.50)
    print(f"SDK emit p50 {emit_p50_ns / 1000:.1f} µs; bare produce() of the same bytes p50 {bare_p50 / 1000:.1f} µs "
          f"({emit_p50_ns / bare_p50:.2f}x, target <= 3x); SDK CPU {sdk_cpu / len(events) * 1e6:.1f} µs per event "
          f"(WARDEN_SDK_ENCODE={args.sdk_encode})", flush=True)
    for mode, (p50, cpu) in modes.items():
        print(f"  {mode:>15}: emit p50 {p50 / 1000:.1f} µs ({p50 / bare_p50:.2f}x a bare produce), "
              f"SDK CPU {cpu:.1f} µs per event", flush=True)
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB",
        "events": landed,
        "events_per_s": round(e2e),
        "raw_events_per_s": round(raw),
        "ratio": round(e2e / raw, 3),
        "sink_cpu_us_per_event": round(sink_cpu / landed * 1e6, 1),  # its count queries included (every 50 ms)
        "sink_cores": round(sink_cpu / e2e_elapsed, 2),
        "latency_rate_events_per_s": args.latency_rate,
        "latency_samples": len(latencies),
        "latency_p50_s": round(percentile(latencies, 0.50), 3),
        "latency_p95_s": round(percentile(latencies, 0.95), 3),
        "latency_p99_s": round(percentile(latencies, 0.99), 3),
        "sdk_emit_us_p50": round(percentile(emit_us, 0.50), 1),
        "sdk_emit_us_p99": round(percentile(emit_us, 0.99), 1),
        "bare_produce_ns_p50": round(bare_p50),
        "sdk_emit_vs_bare_produce": round(emit_p50_ns / bare_p50, 2),
        "sdk_encode": args.sdk_encode,
        "sdk_cpu_us_per_event": round(sdk_cpu / len(events) * 1e6, 1),
        "modes": {mode: {"emit_ns_p50": round(p50), "vs_bare_produce": round(p50 / bare_p50, 2),
                         "sdk_cpu_us_per_event": round(cpu, 1)} for mode, (p50, cpu) in modes.items()},
        "load_average_1m": round(os.getloadavg()[0], 2),
        "sdk_build_and_emit_us_p50": round(percentile([n / 1000 for n in build_ns], 0.50), 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
