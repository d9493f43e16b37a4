"""Embedded-broker memory benchmark: does the durable broker's memory stay flat as events accumulate?

On a fresh durable embedded broker (Tansu on SeaweedFS, what `warden up` runs) a producer with the
SDK's settings writes --events records of 300 bytes to `agent.events` while one consumer tails the
topic. The RSS of Tansu and of SeaweedFS is sampled at each checkpoint (--checkpoints, in events);
the figure issue 15 asks for is the RSS after the last checkpoint over the RSS after the first
(target ≤ 1.2). The same run on memory storage (--storage memory) shows the growth it replaces.
The last line printed is one JSON object with every figure.

    .venv/bin/python benchmarks/broker_rss.py --events 1000000 --checkpoints 100000,500000,1000000
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


def tail(settings: WardenSettings, topic: str, stop: threading.Event, read: list[int]) -> None:
    consumer = Consumer({**settings.kafka_config(), "group.id": "rss-tail", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(topics.PARTITIONS[topics.AGENT_EVENTS])])
    while not stop.is_set():
        read[0] += len([m for m in consumer.consume(1000, 0.1) if m.error() is None])
    consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--checkpoints", default="100000,500000,1000000")
    parser.add_argument("--storage", choices=("s3", "memory"), default="s3")
    args = parser.parse_args()
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    work = Path(tempfile.mkdtemp(prefix="warden-rss-bench-"))
    embedded = WardenSettings(data_dir=work / "data", embedded_broker_port=free_port(),
                              embedded_storage=args.storage, topic_prefix="rss.")
    broker = EmbeddedBroker(embedded, work).start()
    samples: list[dict[str, float]] = []
    try:
        settings = embedded.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap,
                                               "kafka_extra_config": {"log_level": 0}})
        ensure_topics(settings)
        topic = settings.topic(topics.AGENT_EVENTS)
        names = ("seaweedfs", "tansu") if args.storage == "s3" else ("tansu",)
        processes = dict(zip(names, (psutil.Process(pid) for pid in broker.pids()), strict=True))
        stop, read = threading.Event(), [0]
        reader = threading.Thread(target=tail, args=(settings, topic, stop, read))
        reader.start()
        producer = Producer({**configs.producer_config(settings), **PRODUCER_DEFAULTS,
                             "queue.buffering.max.messages": 1_000_000})
        value, started, sent = b"x" * 300, time.monotonic(), 0
        for checkpoint in checkpoints:
            while sent < checkpoint:
                try:
                    producer.produce(topic, value, key=str(sent).encode())
                    sent += 1
                except BufferError:
                    producer.poll(0.05)
                producer.poll(0)
            if producer.flush(600) != 0:
                raise SystemExit(f"not every record up to {checkpoint:,} was acknowledged within 600 s")
            time.sleep(2)  # let the consumer's fetches of the latest batches settle
            sample = {"events": checkpoint, "elapsed_s": round(time.monotonic() - started, 1), "read": read[0],
                      **{f"{name}_rss_mb": round(p.memory_info().rss / 2**20, 1) for name, p in processes.items()}}
            samples.append(sample)
            print(json.dumps(sample), flush=True)
        stop.set()
        reader.join()
    finally:
        broker.stop()
    first, last = samples[0], samples[-1]
    ratios = {f"{name}_rss_ratio": round(last[f"{name}_rss_mb"] / first[f"{name}_rss_mb"], 3) for name in names}
    print(f"{args.storage}: RSS after {last['events']:,} events / after {first['events']:,}: "
          + ", ".join(f"{k.removesuffix('_rss_ratio')} {v}" for k, v in ratios.items()), flush=True)
    print(json.dumps({"storage": args.storage, "events": args.events, "samples": samples, **ratios,
                      "date": datetime.now(UTC).strftime("%Y-%m-%d"), "load_average_1m": round(os.getloadavg()[0], 2),
                      "machine": f"{platform.machine()}, {os.cpu_count()} cores"}))


if __name__ == "__main__":
    main()
