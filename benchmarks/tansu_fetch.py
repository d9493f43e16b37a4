"""Embedded-broker benchmark: what a tailing consumer costs Tansu as a topic's history grows.

For each producer linger, on a fresh embedded broker (--storage s3: Tansu on SeaweedFS, what
`warden up` runs; memory: Tansu alone, the test session's broker): a producer writes
--rate records/s (300-byte values, keyed, over the 6 partitions of a Warden topic) for
--seconds while --consumers consumers tail the topic, each caught up. Printed: the broker's
CPU (cores; Tansu plus SeaweedFS) in every 10 s interval (the last one may be shorter), the
records the consumers had read when the producer stopped and 1 s later, the stored batch count,
and the RSS of Tansu and SeaweedFS at the end.
A broker whose fetch cost did not depend on history would show a flat series; see
docs/decisions/0007-embedded-broker-fetch-cost.md for what the figures mean for Warden.
The last line printed is one JSON object with every figure.

    .venv/bin/python benchmarks/tansu_fetch.py --rate 5000 --seconds 40 --lingers 10,50
    .venv/bin/python benchmarks/tansu_fetch.py --storage s3 --rate 5000 --seconds 400 --lingers 50
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
from confluent_kafka import Consumer, Producer, TopicPartition

from warden.broker.admin import ensure_topics
from warden.broker.embedded import EmbeddedBroker
from warden.broker.tansu import free_port
from warden.core import topics
from warden.core.settings import WardenSettings
from warden.kafka import configs
from warden.sdk.client import PRODUCER_DEFAULTS


def prefill(settings: WardenSettings, topic: str, records: int, batch: int,
            producers: int = 4) -> tuple[dict[int, int], float]:
    """``records`` of history in batches of about ``batch`` records, from ``producers`` producers in
    parallel (Tansu serves one connection's requests in turn), as fast as the broker takes them.
    Returns each partition's next offset (from delivery reports: Tansu's end offsets are wrong) and
    the rate. Batches, not records, are what a partition's fetch cost grows with (ADR 0007)."""
    ends: dict[int, int] = {}
    lock = threading.Lock()

    def delivered(err: object, msg: object) -> None:
        if err is None:
            with lock:
                ends[msg.partition()] = max(ends.get(msg.partition(), 0), msg.offset() + 1)  # type: ignore[attr-defined]

    def write(first: int, count: int) -> None:
        producer = Producer({**configs.producer_config(settings), **PRODUCER_DEFAULTS, "linger.ms": 1000,
                             "batch.num.messages": batch, "queue.buffering.max.messages": 1_000_000})
        value = b"x" * 300
        for i in range(first, first + count):
            while True:
                try:
                    producer.produce(topic, value, key=str(i).encode(), on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        if producer.flush(1800) != 0:
            raise SystemExit("history records were not all delivered within 1800 s")

    started = time.monotonic()
    share = records // producers
    threads = [threading.Thread(target=write, args=(k * share, share if k < producers - 1 else records - k * share))
               for k in range(producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ends, records / (time.monotonic() - started)


def tail(settings: WardenSettings, topic: str, starts: dict[int, int], stop: threading.Event, read: list[int],
         slot: int, fetch_wait_ms: int = 10) -> None:
    consumer = Consumer({**settings.kafka_config(), "group.id": f"tail-{slot}", "enable.auto.commit": False,
                         "fetch.wait.max.ms": fetch_wait_ms})
    consumer.assign([TopicPartition(topic, p, offset) for p, offset in starts.items()])
    while not stop.is_set():
        read[slot] += len([m for m in consumer.consume(1000, 0.05) if m.error() is None])
    consumer.close()


def cpu_s(processes: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def one_run(linger_ms: int, rate: int, seconds: float, consumers: int, storage: str, history: int,
            history_batch: int, fetch_wait_ms: int = 10) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="warden-tansu-bench-"))
    embedded = WardenSettings(data_dir=work / "data", embedded_broker_port=free_port(), embedded_storage=storage,
                              topic_prefix="tb.")
    broker = EmbeddedBroker(embedded, work).start()
    try:
        settings = embedded.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap,
                                               "kafka_extra_config": {"log_level": 0}})
        ensure_topics(settings)
        topic = settings.topic(topics.AGENT_EVENTS)
        partitions = topics.PARTITIONS[topics.AGENT_EVENTS]
        starts, history_rate = {p: 0 for p in range(partitions)}, 0.0
        if history:
            ends, history_rate = prefill(settings, topic, history, history_batch)
            starts.update(ends)
            print(f"{storage}: {history:,} records of history in batches of ≤ {history_batch}: "
                  f"{history_rate:,.0f} records/s", flush=True)
        stop = threading.Event()
        read = [0] * consumers
        threads = [threading.Thread(target=tail, args=(settings, topic, starts, stop, read, slot, fetch_wait_ms))
                   for slot in range(consumers)]
        for t in threads:
            t.start()
        requests = [0]

        def counted(stats: str) -> None:
            requests[0] = sum(b["req"].get("Produce", 0) for b in json.loads(stats)["brokers"].values())

        producer = Producer({**configs.producer_config(settings), **PRODUCER_DEFAULTS, "linger.ms": linger_ms,
                             "statistics.interval.ms": 1000, "stats_cb": counted})
        processes = [psutil.Process(pid) for pid in broker.pids()]
        value = b"x" * 300
        series: list[float] = []
        tansu_series: list[float] = []  # Tansu's own share of each interval
        last_cpu, last_at = cpu_s(processes), time.monotonic()
        last_tansu = cpu_s(processes[-1:])
        start, sent = time.monotonic(), 0
        while (elapsed := time.monotonic() - start) < seconds:
            while sent < int(elapsed * rate):
                producer.produce(topic, value, key=str(sent).encode())
                sent += 1
            producer.poll(0)
            if time.monotonic() - last_at >= 10:
                cpu, tansu_cpu = cpu_s(processes), cpu_s(processes[-1:])
                series.append(round((cpu - last_cpu) / (time.monotonic() - last_at), 2))
                tansu_series.append(round((tansu_cpu - last_tansu) / (time.monotonic() - last_at), 2))
                last_cpu, last_tansu, last_at = cpu, tansu_cpu, time.monotonic()
            time.sleep(0.002)
        if time.monotonic() - last_at >= 1:  # the last, shorter interval
            series.append(round((cpu_s(processes) - last_cpu) / (time.monotonic() - last_at), 2))
        producer.flush(60)
        at_stop = list(read)
        producer.poll(1.5)  # one more statistics report
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join()
        rss_mb = {name: round(p.memory_info().rss / 2**20, 1)
                  for name, p in zip(("seaweedfs", "tansu") if len(processes) == 2 else ("tansu",), processes,
                                     strict=True)}
    finally:
        broker.stop()
    per_consumer = [n / sent for n in read]
    print(f"{storage}, {history:,} records stored before, linger {linger_ms} ms, fetch wait {fetch_wait_ms} ms: "
          f"broker cores per 10 s {series} "
          f"(Tansu alone {tansu_series}); {requests[0]} produce requests "
          f"(≈ {requests[0] * partitions} stored batches at most); consumers had read "
          f"{', '.join(f'{n / sent:.1%}' for n in at_stop)} when the producer stopped, "
          f"{', '.join(f'{share:.1%}' for share in per_consumer)} of {sent} records 2.5 s later; RSS MB {rss_mb}",
          flush=True)
    return {"storage": storage, "history_records": history, "history_batch": history_batch,
            "fetch_wait_ms": fetch_wait_ms,
            "history_records_per_s": round(history_rate), "linger_ms": linger_ms, "broker_cores_per_10s": series,
            "tansu_cores_per_10s": tansu_series,
            "produce_requests": requests[0], "records": sent,
            "consumers_read_share_at_stop": [round(n / sent, 4) for n in at_stop],
            "consumers_read_share": [round(s, 4) for s in per_consumer], "rss_mb": rss_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--consumers", type=int, default=2, help="tailing consumers (Warden: evaluator, alerter)")
    parser.add_argument("--lingers", default="10,50", help="producer linger.ms values, one run each")
    parser.add_argument("--storage", choices=("s3", "memory"), default="memory",
                        help="s3: Tansu on SeaweedFS (warden up); memory: Tansu alone (the tests' broker)")
    parser.add_argument("--history", default="0",
                        help="records stored before the timed run, one run each (e.g. 0,2000000)")
    parser.add_argument("--history-batch", type=int, default=40,
                        help="records per stored batch of history (the SDK's batches at 5,000/s: about 40)")
    parser.add_argument("--fetch-waits", default="10",
                        help="the tailing consumers' fetch.wait.max.ms, one run each (Tansu answers a fetch "
                             "when its wait is up, so this sets how often each consumer asks)")
    args = parser.parse_args()
    runs = [one_run(int(linger), args.rate, args.seconds, args.consumers, args.storage, int(history),
                    args.history_batch, int(wait))
            for history in args.history.split(",") for linger in args.lingers.split(",")
            for wait in args.fetch_waits.split(",")]
    print(json.dumps({"storage": args.storage, "rate": args.rate, "seconds": args.seconds,
                      "consumers": args.consumers, "runs": runs,
                      "date": datetime.now(UTC).strftime("%Y-%m-%d"), "load_average_1m": round(os.getloadavg()[0], 2),
                      "machine": f"{platform.machine()}, {os.cpu_count()} cores"}))


if __name__ == "__main__":
    main()
