"""Embedded-broker benchmark: what a tailing consumer costs Tansu as a topic's history grows.

For each producer linger, on a fresh embedded Tansu (memory storage): a producer writes
--rate records/s (300-byte values, keyed, over the 6 partitions of a Warden topic) for
--seconds while --consumers consumers tail the topic, each caught up. Printed: the broker's
CPU (cores) in every 10 s interval (the last one may be shorter), the records the consumers
read, and the stored batch count.
A broker whose fetch cost did not depend on history would show a flat series; see
docs/decisions/0007-embedded-broker-fetch-cost.md for what the figures mean for Warden.
The last line printed is one JSON object with every figure.

    .venv/bin/python benchmarks/tansu_fetch.py --rate 5000 --seconds 40 --lingers 10,50
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
from warden.broker.tansu import TansuBroker, free_port
from warden.core import topics
from warden.core.settings import WardenSettings
from warden.sdk.client import PRODUCER_DEFAULTS


def tail(settings: WardenSettings, topic: str, partitions: int, stop: threading.Event, read: list[int],
         slot: int) -> None:
    consumer = Consumer({**settings.kafka_config(), "group.id": f"tail-{slot}", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 10})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    while not stop.is_set():
        read[slot] += len([m for m in consumer.consume(1000, 0.05) if m.error() is None])
    consumer.close()


def one_run(linger_ms: int, rate: int, seconds: float, consumers: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="warden-tansu-bench-"))
    with TansuBroker(free_port(), log_path=work / "tansu.log") as broker:
        settings = WardenSettings(data_dir=work / "data", kafka_bootstrap_servers=broker.bootstrap,
                                  topic_prefix="tb.", kafka_extra_config={"log_level": 0})
        ensure_topics(settings)
        topic = settings.topic(topics.AGENT_EVENTS)
        partitions = topics.PARTITIONS[topics.AGENT_EVENTS]
        stop = threading.Event()
        read = [0] * consumers
        threads = [threading.Thread(target=tail, args=(settings, topic, partitions, stop, read, slot))
                   for slot in range(consumers)]
        for t in threads:
            t.start()
        requests = [0]

        def counted(stats: str) -> None:
            requests[0] = sum(b["req"].get("Produce", 0) for b in json.loads(stats)["brokers"].values())

        producer = Producer({**settings.producer_config(), **PRODUCER_DEFAULTS, "linger.ms": linger_ms,
                             "statistics.interval.ms": 1000, "stats_cb": counted})
        assert broker.process is not None
        process = psutil.Process(broker.process.pid)
        value = b"x" * 300
        series: list[float] = []
        last_cpu, last_at = sum(process.cpu_times()[:2]), time.monotonic()
        start, sent = time.monotonic(), 0
        while (elapsed := time.monotonic() - start) < seconds:
            while sent < int(elapsed * rate):
                producer.produce(topic, value, key=str(sent).encode())
                sent += 1
            producer.poll(0)
            if time.monotonic() - last_at >= 10:
                cpu = sum(process.cpu_times()[:2])
                series.append(round((cpu - last_cpu) / (time.monotonic() - last_at), 2))
                last_cpu, last_at = cpu, time.monotonic()
            time.sleep(0.002)
        if time.monotonic() - last_at >= 1:  # the last, shorter interval
            series.append(round((sum(process.cpu_times()[:2]) - last_cpu) / (time.monotonic() - last_at), 2))
        producer.flush(30)
        producer.poll(1.5)  # one more statistics report
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join()
    per_consumer = [n / sent for n in read]
    print(f"linger {linger_ms} ms: broker cores per 10 s {series}; {requests[0]} produce requests "
          f"(≈ {requests[0] * partitions} stored batches at most); consumers read "
          f"{', '.join(f'{share:.1%}' for share in per_consumer)} of {sent} records", flush=True)
    return {"linger_ms": linger_ms, "broker_cores_per_10s": series, "produce_requests": requests[0],
            "records": sent, "consumers_read_share": [round(s, 4) for s in per_consumer]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--consumers", type=int, default=2, help="tailing consumers (Warden: evaluator, alerter)")
    parser.add_argument("--lingers", default="10,50", help="producer linger.ms values, one run each")
    args = parser.parse_args()
    runs = [one_run(int(linger), args.rate, args.seconds, args.consumers) for linger in args.lingers.split(",")]
    print(json.dumps({"rate": args.rate, "seconds": args.seconds, "consumers": args.consumers, "runs": runs,
                      "date": datetime.now(UTC).strftime("%Y-%m-%d"), "load_average_1m": round(os.getloadavg()[0], 2),
                      "machine": f"{platform.machine()}, {os.cpu_count()} cores"}))


if __name__ == "__main__":
    main()
