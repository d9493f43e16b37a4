"""How fast the compacted topics (`<group>.changelog`, `control`) gain record batches under `warden up` with
steady SDK load on the embedded durable broker. Tansu lists every batch of a partition on each fetch and
does not compact, and these topics have no retention TTL (ADR 0021), so a reader at their end stalls past
about 1,000 batches a partition: this says how soon a real stack gets there.

    .venv/bin/python benchmarks/changelog_growth.py --rate 200 --seconds 600

Every --every seconds: batches per partition of every stored changelog topic and of the control topic
(warden.broker.history, as the history watch counts them). With --pad N: at --pad-at seconds, N records of
another key (one batch each) are written to partition 0 of --pad-service's changelog, the service's next
checkpoints move its hint past them, then it is killed (-9) and the supervisor restarts it: the time from
the kill to its "restored from snapshot" log line says whether a restore from the hint stalls (the store
gives up after 60 s). The last line is one JSON object.

    .venv/bin/python benchmarks/changelog_growth.py --rate 200 --seconds 300 --pad 3000 --pad-at 60
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from harness import cpu_model
from stack import load  # sibling script: the SDK load process of the whole-stack benchmark
from warden.broker.history import HistoryWatch
from warden.broker.tansu import CLUSTER_ID, free_port
from warden.core.settings import WardenSettings
from warden.kafka import clients
from warden.stack import Stack

RESTORED = "restored from snapshot"


def pad_and_restart(stack: Stack, settings: WardenSettings, service: str, group: str, batches: int,
                    watch: HistoryWatch) -> dict[str, object]:
    """``batches`` records before the service's hint on its changelog partition 0, then kill -9 and time the
    restarted service's restore."""
    topic = settings.topic(f"{group}.changelog")
    producer = clients.producer(settings)
    begin = time.monotonic()
    for i in range(batches):
        producer.produce(topic, b'{"pad": %d}\n' % i, key=b"\x00pad", partition=0)
        producer.flush_or_raise(30, "a pad record")
    producer.close(5)
    padded_s = time.monotonic() - begin
    time.sleep(15)  # the service checkpoints (2-5 s) and commits its hint past the padding
    counted = watch.counts().get((topic, 0), 0)
    log_path = stack.log_dir / f"{service}.log"
    seen = log_path.read_text(errors="replace").count(RESTORED)
    child = stack.children[service]
    killed = time.monotonic()
    os.kill(child.process.pid, signal.SIGKILL)
    restored_s: float | None = None
    while time.monotonic() - killed < 180:
        if log_path.read_text(errors="replace").count(RESTORED) > seen:
            restored_s = time.monotonic() - killed
            break
        time.sleep(0.5)
    tail = log_path.read_text(errors="replace").splitlines()[-4:]
    return {"service": service, "batches": counted, "padded_s": round(padded_s, 1),
            "restored_s": None if restored_s is None else round(restored_s, 1), "log_tail": tail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=200, help="demo events per second through the SDK")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between counts")
    parser.add_argument("--port", type=int, default=0, help="the embedded broker's port (0: any free)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the stack's services")
    parser.add_argument("--pad", type=int, default=0, help="batches to put before a service's restore hint")
    parser.add_argument("--pad-at", type=float, default=60.0)
    parser.add_argument("--pad-service", default="rollout-controller")
    args = parser.parse_args()
    work = args.data_dir or Path(tempfile.mkdtemp(prefix="warden-changelog-growth-"))
    port = args.port or free_port()
    settings = WardenSettings(data_dir=work, embedded_broker_port=port, query_port=port + 1,
                              topic_prefix="growth.", kafka_extra_config={"log_level": 0})
    env = {"WARDEN_APPROVALS_PORT": str(port + 2), "WARDEN_PROXY_PORT": str(port + 3),
           "WARDEN_METRICS_PORT_BASE": str(port + 10),
           "WARDEN_APPROVER_TOKENS": json.dumps({"bench@warden.local": uuid.uuid4().hex}),
           **dict(e.split("=", 1) for e in args.env)}
    stack = Stack(settings, env=env).start()
    supervise_stop = threading.Event()
    threading.Thread(target=stack.supervise, args=(supervise_stop,), daemon=True).start()
    samples: list[dict[str, object]] = []
    padded: dict[str, object] | None = None
    try:
        assert stack.broker is not None and stack.broker.storage is not None
        storage = stack.broker.storage
        watch = HistoryWatch(lambda: storage.s3_url, CLUSTER_ID, None, settings.embedded_fetch_wait_ms)
        live = stack.client_settings()
        done = multiprocessing.Value("i", 0)
        loader = multiprocessing.Process(target=load, args=(live.bootstrap_servers, live.topic_prefix, str(work),
                                                            args.rate, args.seconds, done, True), daemon=True)
        start = time.monotonic()
        loader.start()
        while True:
            elapsed = time.monotonic() - start
            counts = watch.counts()
            wanted = {f"{t}[{p}]": n for (t, p), n in sorted(counts.items())
                      if (t.endswith(".changelog") or t == settings.topic("control")) and n > 0}
            events = max((n for (t, p), n in counts.items() if t == settings.topic("agent.events")), default=0)
            trimmed = stack.trimmer.totals if stack.trimmer is not None else None  # ADR 0028
            samples.append({"t": round(elapsed), "batches": wanted, "agent_events_max": events,
                            "trimmed_read": trimmed and trimmed.read, "trimmed_unread": trimmed and trimmed.unread})
            worst = sorted(wanted.items(), key=lambda kv: -kv[1])[:6]
            held = stack.trimmer.held.get(settings.topic("agent.events")) if stack.trimmer is not None else None
            print(f"{elapsed:6.0f} s  agent.events max {events:5d}  trimmed {trimmed} held {held}  "
                  + "  ".join(f"{k} {v}" for k, v in worst), flush=True)
            if args.pad and padded is None and elapsed >= args.pad_at:
                padded = pad_and_restart(stack, live, args.pad_service, f"warden-{args.pad_service}", args.pad, watch)
                print(f"padded and restarted: {padded}", flush=True)
            if not loader.is_alive() and elapsed > args.seconds:
                break
            time.sleep(max(0.0, args.every - (time.monotonic() - start - elapsed)))
        loader.join(30)
    finally:
        supervise_stop.set()
        stack.stop()
    first, last = samples[0], samples[-1]
    span = float(last["t"]) - float(first["t"])  # type: ignore[arg-type]
    rates = {}
    for key, n in last["batches"].items():  # type: ignore[attr-defined]
        before = first["batches"].get(key, 0)  # type: ignore[attr-defined]
        per_s = (n - before) / span if span > 0 else 0.0
        rates[key] = {"batches": n, "per_s": round(per_s, 3),
                      "hours_to_1000": round((1000 - n) / per_s / 3600, 2) if per_s > 0 and n < 1000 else None}
    for key, figure in sorted(rates.items(), key=lambda kv: -kv[1]["per_s"]):
        print(f"{key}: {figure['batches']} batches, {figure['per_s']}/s, 1,000 in {figure['hours_to_1000']} h")
    print(json.dumps({"cpu": cpu_model(), "date": datetime.now(UTC).strftime("%Y-%m-%d"), "rate": args.rate,
                      "seconds": args.seconds, "events": done.value, "load_average_1m": round(os.getloadavg()[0], 2),
                      "partitions": rates, "padded": padded, "samples": samples, "logs": str(work)}))


if __name__ == "__main__":
    main()
