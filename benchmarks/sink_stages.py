"""Per-event CPU cost of each stage of the ledger-sink, in-process, on the pipeline benchmark's events.

What `benchmarks/pipeline.py`'s end-to-end figure is made of, measured apart so a change to one stage
shows its own gain (issue 15). Over the same simulated demo events, with the routing headers the SDK
writes, in batches of --batch (the sink's batch_max_rows), every stage interleaved batch by batch so each
sees the same load, best of --repeat passes:
  decode    the runtime's read of one record: Wire.decode (Avro + every pydantic contract check), the
            routing headers (ADR 0019) and the record key checked against the event;
  rows      the pure step `land`: record ids, flatten + redact into columns, the hash chain (HMAC);
  insert    the column insert of the batch into a real chDB ledger (migrated, in a temporary directory);
  lookup    the recovery window's `record_id IN (...)` query of a batch against what is landed.
The last line printed is one JSON object with every figure (µs per event). Run by another checkout's
interpreter (`/work/main/.venv/bin/python benchmarks/sink_stages.py`) it measures that checkout's code.

    .venv/bin/python benchmarks/sink_stages.py --events 20000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from types import SimpleNamespace
from typing import Any, cast

from confluent_kafka import Message

from harness import cpu_model  # a sibling script, not a package
from warden.core import headers
from warden.core.events import AgentEvent
from warden.core.headers import disagreement, event_headers, routing_of
from warden.core.seen import SeenIds
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.demo.simulator import Simulator
from warden.ledger.client import Ledger
from warden.ledger.migrations import migrate
from warden.ledger_rows.chain import ChainKey
from warden.ledger_rows.tables import TABLES_BY_NAME
from warden.ledger_sink import service
from warden.ledger_sink.processor import ChainHeads, Incoming, land
from warden.ledger_sink.service import SinkProcessor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--default-gc", action="store_true", help="CPython's collector settings, not the sink's")
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        wire = wire_for(WardenSettings(data_dir=Path(tmp)))
        events = list(Simulator(11, datetime(2026, 11, 2, tzinfo=UTC), "stg").events(args.events))[: args.events]
        messages = [Message(topic="agent.events", value=wire.encode(e), headers=event_headers(e),
                            key=e.run_id.encode()) for e in events]
        ledger = Ledger(f"chdb://{tmp}/ledger", database="bench")
        migrate(ledger, {"*": 7})
        key = ChainKey("bench", b"k" * 32)
        table = TABLES_BY_NAME["agent_events"]
        batches = [(a, min(len(events), a + args.batch)) for a in range(0, len(events), args.batch)]
        decoded: list[Incoming] = []
        columns: list[list[list[object]]] = []

        key_check = getattr(headers, "key_disagreement", None)  # None on a checkout from before it

        def decode(a: int, b: int) -> None:
            for i in range(a, b):
                msg = messages[i]
                value = wire.decode(msg.value(), "warden.AgentEvent")
                assert isinstance(value, AgentEvent)
                routing = routing_of(msg.headers())
                assert routing is not None and disagreement(routing, value) is None
                assert key_check is None or key_check(msg.key(), value) is None
                decoded.append(Incoming("agent.events", i % 6, i, value.run_id, value, "stg.agent.events"))

        def rows(a: int, b: int) -> None:
            _, landed = land(ChainHeads(), decoded[a:b], set(), key)
            columns.append(landed.columns["agent_events"])

        def insert(a: int, b: int) -> None:
            ledger.insert("agent_events", table.insert_columns, columns.pop(0))

        sink = SinkProcessor.__new__(SinkProcessor)  # only its recovery-window lookup, on this ledger
        sink.sink = cast(Any, SimpleNamespace(ledger=ledger))
        sink.recovery, sink.recent = {("stg.agent.events", p): 10**9 for p in range(6)}, SeenIds(1)

        def lookup(a: int, b: int) -> None:
            sink._already_landed(decoded[a:b])

        tune_gc = getattr(service, "tune_gc", None)  # None on a checkout from before it (to compare with)
        if not args.default_gc and tune_gc is not None:
            tune_gc()  # as `warden run ledger-sink` does once started
        stages: dict[str, Callable[[int, int], None]] = {"decode": decode, "rows": rows, "insert": insert,
                                                          "lookup": lookup}
        # Python stages on this thread's clock; chDB's on the process's (its engine works on threads of its own).
        clocks = {"decode": time.thread_time, "rows": time.thread_time, "insert": time.process_time,
                  "lookup": time.process_time}
        best = dict.fromkeys(stages, float("inf"))
        for _ in range(args.repeat):
            decoded.clear()
            ledger.command("TRUNCATE TABLE bench.agent_events")
            spent = dict.fromkeys(stages, 0.0)
            for a, b in batches:
                for name, run in stages.items():
                    clock = clocks[name]
                    began = clock()
                    run(a, b)
                    spent[name] += clock() - began
            for name in stages:
                best[name] = min(best[name], spent[name] / len(events) * 1e6)
        ledger.close()
    best["total"] = sum(best.values())
    for name, us in best.items():
        print(f"{name:8s} {us:7.2f} µs/event (CPU)")
    print(json.dumps({"cpu": cpu_model(), "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                      "load_average_1m": round(os.getloadavg()[0], 2), "events": len(events), "batch": args.batch,
                      **{f"{k}_us": round(v, 2) for k, v in best.items()}}))


if __name__ == "__main__":
    main()
