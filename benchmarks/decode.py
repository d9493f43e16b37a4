"""Per-event cost of reading and writing an AgentEvent, in-process: what a stream service pays per record
before its step, and what the routing headers (ADR 0019) cost and save.

In one run, over the same simulated demo events, interleaved in chunks so every variant sees the same
load (the machine is shared), best of --repeat passes each:
  header     routing_of(msg.headers()) on a consumed-message stand-in carrying the SDK's headers: the
             cost of passing an event over without decoding it;
  avro       Wire's Avro decode (the codec's checks and fastavro's schemaless_reader);
  wire       Wire.decode: Avro and the pydantic model with every contract check (what services do);
  construct  the Avro decode, then the typed model built with pydantic's model_construct (no checks):
             what "validate once at the edge, trust the topic downstream" would cost;
  produce    a bare confluent-kafka produce() of the encoded bytes into the local queue (no broker), with
             and without the headers, and building the headers (event_headers).
The last line printed is one JSON object with every figure (µs per event).

    .venv/bin/python benchmarks/decode.py --events 20000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from confluent_kafka import Message, Producer

from rollout import cpu_model  # a sibling script, not a package
from warden.core.events import BODY_TYPES, AgentEvent, EventType, RunCompleted, RunStatus, ToolCallCompleted, ToolStatus
from warden.core.headers import event_headers, routing_of
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.demo.simulator import Simulator

CHUNK = 500


def construct(record: dict[str, Any]) -> AgentEvent:
    """The typed event from a decoded Avro dict without pydantic's checks (enums converted by hand)."""
    event_type = EventType(record["event_type"])
    _, fields = record["body"]
    model = BODY_TYPES[event_type]
    if model is ToolCallCompleted:
        fields = {**fields, "status": ToolStatus(fields["status"])}
    elif model is RunCompleted:
        fields = {**fields, "status": RunStatus(fields["status"])}
    body = model.model_construct(**fields)
    return AgentEvent.model_construct(**{**record, "event_type": event_type, "body": body})


def interleaved(variants: dict[str, Callable[[int, int], None]], n: int, repeat: int) -> dict[str, float]:
    """µs per item of each variant: chunks of every variant in turn, best pass of ``repeat``."""
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(repeat):
        spent = dict.fromkeys(variants, 0.0)
        for start in range(0, n, CHUNK):
            end = min(n, start + CHUNK)
            for name, run in variants.items():
                began = time.perf_counter()
                run(start, end)
                spent[name] += time.perf_counter() - began
        for name in variants:
            best[name] = min(best[name], spent[name] / n * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        wire = wire_for(WardenSettings(data_dir=Path(tmp)))
        events = list(Simulator(11, datetime(2026, 11, 2, tzinfo=UTC), "dec").events(args.events))[: args.events]
        data = [wire.encode(e) for e in events]
        headers = [event_headers(e) for e in events]
        messages = [Message(topic="agent.events", value=d, headers=h) for d, h in zip(data, headers, strict=True)]
        codec = wire.codec
        # the local queue stands in for the broker: nothing is sent (no broker at this address)
        producer = Producer({"bootstrap.servers": "127.0.0.1:9", "queue.buffering.max.messages": 2_000_000,
                             "queue.buffering.max.kbytes": 4_000_000, "linger.ms": 1000, "log_level": 0,
                             "message.timeout.ms": 600_000})

        def header(a: int, b: int) -> None:
            for m in messages[a:b]:
                routing_of(m.headers())

        def avro(a: int, b: int) -> None:
            for d in data[a:b]:
                codec.decode(d, "warden.AgentEvent")

        def full(a: int, b: int) -> None:
            for d in data[a:b]:
                wire.decode(d, "warden.AgentEvent")

        def trusted(a: int, b: int) -> None:
            for d in data[a:b]:
                construct(codec.decode(d, "warden.AgentEvent")[1])

        def bare(a: int, b: int) -> None:
            for d, e in zip(data[a:b], events[a:b], strict=True):
                producer.produce("agent.events", d, key=e.run_id.encode())

        def with_headers(a: int, b: int) -> None:
            for d, e, h in zip(data[a:b], events[a:b], headers[a:b], strict=True):
                producer.produce("agent.events", d, key=e.run_id.encode(), headers=h)

        def build_headers(a: int, b: int) -> None:
            for e in events[a:b]:
                event_headers(e)

        assert construct(codec.decode(data[0], "warden.AgentEvent")[1]) == events[0]
        figures = interleaved({"header": header, "avro": avro, "wire": full, "construct": trusted,
                               "produce": bare, "produce_with_headers": with_headers,
                               "event_headers": build_headers}, len(data), args.repeat)
        producer.purge()
    kinds = Counter(e.event_type.value for e in events)
    figures["validate"] = figures["wire"] - figures["avro"]
    figures["construct_only"] = figures["construct"] - figures["avro"]
    for name, us in figures.items():
        print(f"{name:22s} {us:7.2f} µs/event")
    share = {k: round(v / len(events), 3) for k, v in sorted(kinds.items())}
    print(f"event types: {share}; header bytes per event "
          f"{sum(len(k) + len(v or b'') for h in headers for k, v in h) / len(headers):.0f}, "
          f"Avro bytes {sum(map(len, data)) / len(data):.0f}")
    print(json.dumps({"cpu": cpu_model(), "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                      "load_average_1m": round(os.getloadavg()[0], 2), "events": len(events),
                      **{f"{k}_us": round(v, 2) for k, v in figures.items()}, "event_type_share": share}))


if __name__ == "__main__":
    main()
