"""Embedded durable broker: at how many stored batches per partition do tailing consumers stop reading?

On a fresh Tansu-on-SeaweedFS broker (what `warden up` runs), a topic of --partitions partitions
outside Warden's own (so no retention TTL applies) is filled step by step up to each count in
--batches (batches of --per-batch records, written as fast as the broker takes them). At each step,
for each fetch wait in --waits: --consumers consumers assigned at every partition's end tail it
while a producer with the SDK's settings writes --rate records/s for --seconds. Printed per run: the
share each consumer had read at the stop and 2.5 s later, produce requests, fetch requests, the
CPU of SeaweedFS and of Tansu, and how long one LIST of a partition's batches took (Tansu makes
one per partition per fetch and stops listing when the fetch's wait is up: ADR 0007, "Why tailing
stalls on durable storage"). The last line printed is one JSON object with every figure.

    .venv/bin/python benchmarks/tansu_batches.py --batches 700,1300 --per-batch 1 --waits 50,500
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

import httpx
import psutil
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import cpu_model
from warden.broker.embedded import EmbeddedBroker
from warden.broker.history import count_batches, records_prefix
from warden.broker.tansu import CLUSTER_ID, free_port
from warden.core.settings import WardenSettings
from warden.kafka import configs

TOPIC = "batches.bench"  # not one of Warden's topics: no TTL, the history stays while the runs read


def fill(settings: WardenSettings, partitions: int, batches: int, per_batch: int, producers: int = 4) -> None:
    """``batches`` more batches in each partition, ``per_batch`` records each (linger long, batch size capped)."""
    total = partitions * batches * per_batch

    def write(first: int) -> None:
        producer = Producer({**configs.producer_config(settings), "linger.ms": 1000, "batch.num.messages": per_batch,
                             "queue.buffering.max.messages": 1_000_000})
        for i in range(first, total, producers):
            while True:
                try:
                    producer.produce(TOPIC, b"h" * 300, partition=(i // per_batch) % partitions)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        if producer.flush(1800) != 0:
            raise SystemExit("the history was not all delivered within 1800 s")

    threads = [threading.Thread(target=write, args=(k,)) for k in range(producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def ends(settings: WardenSettings, partitions: int) -> dict[int, int]:
    """Each partition's high watermark (from a fetch response: right on this storage, unlike ListOffsets)."""
    consumer = Consumer({**settings.kafka_config(), "group.id": "batches-ends"})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1] for p in range(partitions)}
    finally:
        consumer.close()


def one_run(settings: WardenSettings, broker: EmbeddedBroker, partitions: int, wait_ms: int, rate: int,
            seconds: float, consumers: int, marker: bytes) -> dict[str, object]:
    starts = ends(settings, partitions)
    stop = threading.Event()
    read, fetches = [0] * consumers, [0] * consumers

    def tail(slot: int) -> None:
        def stats(text: str) -> None:
            fetches[slot] = sum(b["req"].get("Fetch", 0) for b in json.loads(text)["brokers"].values())

        consumer = Consumer({**settings.kafka_config(), "group.id": f"batches-{slot}", "enable.auto.commit": False,
                             "fetch.wait.max.ms": wait_ms, "statistics.interval.ms": 1000, "stats_cb": stats})
        consumer.assign([TopicPartition(TOPIC, p, o) for p, o in starts.items()])
        while not stop.is_set():
            got = consumer.consume(1000, 0.05)
            read[slot] += len([m for m in got if m.error() is None and (m.value() or b"")[:1] == marker])
        consumer.close()

    threads = [threading.Thread(target=tail, args=(slot,)) for slot in range(consumers)]
    for t in threads:
        t.start()
    requests = [0]

    def counted(text: str) -> None:
        requests[0] = sum(b["req"].get("Produce", 0) for b in json.loads(text)["brokers"].values())

    producer = Producer({**configs.producer_config(settings), **configs.SDK_PRODUCER, "statistics.interval.ms": 1000,
                         "stats_cb": counted})
    processes = [psutil.Process(pid) for pid in broker.pids()]  # SeaweedFS, Tansu
    cpu_before = [sum(p.cpu_times()[:2]) for p in processes]
    sent, start = 0, time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        while sent < int(elapsed * rate):
            producer.produce(TOPIC, marker * 300, key=str(sent).encode())
            sent += 1
        producer.poll(0)
        time.sleep(0.002)
    cores = [round((sum(p.cpu_times()[:2]) - c) / (time.monotonic() - start), 2) for p, c in zip(processes, cpu_before,
                                                                                             strict=True)]
    producer.flush(60)
    producer.poll(1.2)  # one more statistics report
    at_stop = list(read)
    time.sleep(2.5)
    stop.set()
    for t in threads:
        t.join()
    return {"fetch_wait_ms": wait_ms, "records": sent, "read_share_at_stop": [round(n / sent, 3) for n in at_stop],
            "read_share": [round(n / sent, 3) for n in read], "produce_requests": requests[0], "fetches": fetches,
            "seaweedfs_cores": cores[0], "tansu_cores": cores[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="700,1300", help="batches per partition to reach, one step each")
    parser.add_argument("--per-batch", type=int, default=1, help="records per stored batch")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--waits", default="50,500", help="the tailing consumers' fetch.wait.max.ms, one run each")
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--consumers", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="warden-batches-bench-"))
    embedded = WardenSettings(data_dir=work / "data", embedded_broker_port=free_port(), topic_prefix="bb.")
    broker = EmbeddedBroker(embedded, work).start()
    steps: list[dict[str, object]] = []
    try:
        settings = embedded.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap,
                                               "kafka_extra_config": {"log_level": 0}})
        admin = AdminClient(settings.kafka_config())
        for future in admin.create_topics([NewTopic(TOPIC, args.partitions, 1)]).values():
            future.result(timeout=15)
        assert broker.storage is not None
        prefix = records_prefix(CLUSTER_ID, TOPIC, 0)
        marker = ord("A")
        with httpx.Client(timeout=30.0) as client:
            for target in (int(b) for b in args.batches.split(",")):
                have = count_batches(client, broker.storage.s3_url, prefix)
                if target > have:
                    fill(settings, args.partitions, target - have, args.per_batch)
                started = time.monotonic()
                stored = count_batches(client, broker.storage.s3_url, prefix)
                list_ms = round((time.monotonic() - started) * 1000, 1)
                for wait in (int(w) for w in args.waits.split(",")):
                    run = one_run(settings, broker, args.partitions, wait, args.rate, args.seconds, args.consumers,
                                  bytes([marker]))
                    marker += 1
                    steps.append({"batches_per_partition": stored, "list_ms": list_ms, **run})
                    print(f"{stored:,} batches per partition (one LIST {list_ms} ms), fetch wait {wait} ms: consumers "
                          f"read {run['read_share_at_stop']} at the stop, {run['read_share']} 2.5 s later; "
                          f"{run['produce_requests']} produce requests, fetches {run['fetches']}; SeaweedFS "
                          f"{run['seaweedfs_cores']} / Tansu {run['tansu_cores']} cores", flush=True)
    finally:
        broker.stop()
    print(json.dumps({"partitions": args.partitions, "per_batch": args.per_batch, "rate": args.rate,
                      "seconds": args.seconds, "consumers": args.consumers, "runs": steps,
                      "date": datetime.now(UTC).strftime("%Y-%m-%d"), "load_average_1m": round(os.getloadavg()[0], 2),
                      "machine": f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}"}))


if __name__ == "__main__":
    main()
