"""SDK cache benchmark: a cache lookup against an SDK emit, in-process and through a shared Redis.

  emit           WardenClient.emit of a prepared llm_call event, per call (the SDK's hot path).
  lookup miss    run.cache.lookup of a prompt not in the cache: normalise + key + the store's get
                 (what every call through the cache pays before the model is called).
  lookup hit     run.cache.lookup of a stored prompt: the above plus building and emitting the cached
                 llm_call (what replaces a model call).
  record         run.cache.record of a model's answer: the ledger's redactor over input and output, the
                 key, the llm_call built and emitted, the answer held for its decision.
Each is timed per call on the same client and broker (embedded Tansu) in one run; the stores are the
in-process LRU and a real redis-server on loopback. Prompts are ~1.5 KB of text. Ratios are to the emit
measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from harness import cpu_model, percentile
from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.cache.backends import CacheBackend, MemoryBackend, RedisBackend
from warden.core.events import AgentEvent, new_event_id
from warden.core.settings import WardenSettings
from warden.sdk import WardenClient
from warden.sdk.cache import AnswerCache

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.redis_server import running_redis

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
FILLER = ("The customer writes that the parcel arrived damaged and asks what the refund window is for an order "
          "placed last month; the policy text and the order history follow. ") * 10


def prompt(n: int) -> str:
    return f"{FILLER} Order o-{n}."


def llm_event(n: int) -> AgentEvent:
    return AgentEvent.model_validate({
        "event_id": new_event_id(), "event_type": "llm_call", "occurred_at": T0, "tenant_id": "acme",
        "workflow": "refund_ticket", "run_id": f"emit-{n % 1000}", "agent_id": "bench", "step": 1 + n // 1000,
        "body": {"model": "gpt-4o-mini", "provider": "openai", "input_tokens": 900, "output_tokens": 60,
                 "latency_ms": 500.0}})


def timed(calls: int, fn: object) -> float:
    assert callable(fn)
    ns: list[float] = []
    for n in range(calls):
        began = time.perf_counter_ns()
        fn(n)
        ns.append(time.perf_counter_ns() - began)
    return percentile(ns, 0.5)


def store_figures(client: WardenClient, backend: CacheBackend, calls: int) -> dict[str, float]:
    client.cache = AnswerCache(backend)
    run = client.run("acme", "refund_ticket", "bench", run_id=f"store-{uuid.uuid4().hex[:6]}")
    stored = min(calls, 2000)
    figures = {"record": timed(stored, lambda n: run.cache.record("gpt-4o-mini", "openai", prompt(n), f"answer {n}",
                                                                   900, 60, 500.0, at=T0))}
    run.completed("succeeded", at=T0)  # every answer above stored (the last on completion)
    reader = client.run("acme", "refund_ticket", "bench", run_id=f"read-{uuid.uuid4().hex[:6]}")
    figures["miss"] = timed(calls, lambda n: reader.cache.lookup("gpt-4o-mini", prompt(10_000_000 + n), at=T0))
    figures["hit"] = timed(calls, lambda n: reader.cache.lookup("gpt-4o-mini", prompt(n % stored), at=T0))
    assert reader.cache.lookup("gpt-4o-mini", prompt(0), at=T0) is not None
    reader.completed("succeeded", at=T0)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000, help="emits and lookups timed per store")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, TansuBroker(free_port(), log_path=Path(tmp) / "tansu.log") as broker, \
            running_redis(Path(tmp)) as redis_url:
        settings = WardenSettings(data_dir=Path(tmp) / "w", kafka_bootstrap_servers=broker.bootstrap,
                                  topic_prefix=f"cb{uuid.uuid4().hex[:6]}.", kafka_extra_config={"log_level": 0})
        ensure_topics(settings)
        with WardenClient(settings) as client:
            events = [llm_event(n) for n in range(args.calls)]
            emit = timed(args.calls, lambda n: client.emit(events[n]))
            memory = store_figures(client, MemoryBackend(), args.calls)
            shared = store_figures(client, RedisBackend(redis_url, prefix=f"bench:{uuid.uuid4().hex[:6]}:"),
                                   args.calls)
    print(f"emit: p50 {emit:,.0f} ns")
    for name, f in (("in-process", memory), ("redis", shared)):
        print(f"{name}: lookup miss p50 {f['miss']:,.0f} ns ({f['miss'] / emit:.2f}x an emit), hit p50 "
              f"{f['hit']:,.0f} ns ({f['hit'] / emit:.2f}x), record p50 {f['record']:,.0f} ns "
              f"({f['record'] / emit:.2f}x)")
    print(json.dumps({
        "cpu": cpu_model(), "calls": args.calls, "prompt_chars": len(prompt(0)), "emit_ns_p50": round(emit),
        **{f"{name}_{k}_ns_p50": round(v) for name, f in (("memory", memory), ("redis", shared)) for k, v in f.items()},
        **{f"{name}_{k}_vs_emit": round(v / emit, 3) for name, f in (("memory", memory), ("redis", shared))
           for k, v in f.items()},
    }))


if __name__ == "__main__":
    main()
