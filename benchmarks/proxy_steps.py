"""Where a tool call's time goes inside the proxy: each check of pipeline.CHECKS timed in-process.

benchmarks/proxy.py measures the whole call over HTTP; this runs the same pipeline (http_api.call_http,
as the bare tool route does) in one process on uvloop, against the reference upstream and a real
embedded Tansu broker, and times every check, the tool_call_requested event (open_events) and the
closing records (built and queued after the answer, ADR 0022). Calls are spaced by --gap-ms, one
at a time, so each figure is one call's own cost. Run it from two checkouts in turn to compare code.
The last line printed is one JSON object (p50 µs per step).

    .venv/bin/python benchmarks/proxy_steps.py --calls 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from harness import cpu_model, percentile  # a sibling script, not a package
from proxy import SECRET, inventory  # the HTTP benchmark's inventory: both time the same tools
from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core.settings import WardenSettings
from warden.tool_proxy import http_api, pipeline
from warden.tool_proxy.proxy import ToolProxy
from warden.tool_proxy.reference_upstream import Upstream
from warden.tool_proxy.settings import ToolProxySettings

KEY = ("bench", "bench-key-0123456789abcdef0123456789abcdef")
Timings = dict[str, list[float]]


def timed_check(name: str, fn: pipeline.CheckFn, into: Timings) -> pipeline.CheckFn:
    async def run(proxy: ToolProxy, call: pipeline.Call) -> Any:
        t0 = time.perf_counter()
        try:
            return await fn(proxy, call)
        finally:
            into.setdefault(name, []).append((time.perf_counter() - t0) * 1e6)
    return run


def timed(name: str, fn: Callable[..., Any], into: Timings) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            into.setdefault(name, []).append((time.perf_counter() - t0) * 1e6)
    return run


async def calls(proxy: ToolProxy, token: str, n: int, gap_s: float, into: Timings) -> None:
    await proxy.upstreams.open()
    try:
        for i in range(n):
            raw = json.dumps({"input": {"customer_id": f"c{i}"}}).encode()
            t0 = time.perf_counter()
            reply = await http_api.call_http(proxy, "crm", "lookup", f"Bearer {token}", raw, defer_records=True)
            into.setdefault("call (checks and upstream)", []).append((time.perf_counter() - t0) * 1e6)
            reply.emit_records()
            if reply.status != 200:
                raise SystemExit(f"call {i} answered {reply.status}: {reply.body}")
            await asyncio.sleep(gap_s)
    finally:
        await proxy.upstreams.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=2.0, help="pause between calls")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="warden-proxy-steps-"))
    into: Timings = {}
    upstream = Upstream().start()
    try:
        with TansuBroker(free_port(), log_path=work / "tansu.log") as broker:
            base = WardenSettings(data_dir=work / "data", kafka_bootstrap_servers=broker.bootstrap,
                                  topic_prefix="xsteps.")
            ensure_topics(base)
            settings = ToolProxySettings(**{**base.model_dump(), "proxy_inventory": inventory(work, upstream.url),
                                            "proxy_access_lists": work / "access.yaml",
                                            "proxy_signing_keys": dict([KEY]),
                                            "proxy_upstream_secrets": {"crm-api-key": SECRET}})
            proxy = ToolProxy(settings)
            pipeline.CHECKS = tuple(pipeline.Check(c.name, timed_check(c.name, c.run, into), c.trace,
                                                   c.opens_events_on) for c in pipeline.CHECKS)
            pipeline.open_events = timed("open_events", pipeline.open_events, into)
            pipeline.closing_records = timed("closing_records", pipeline.closing_records, into)
            token, _ = proxy.keyring.issue(tenant_id="acme", workflow="refund_ticket", run_id="bench-steps",
                                           agent_id="bench-agent", tools=frozenset({"crm.lookup"}),
                                           now=time.time(), ttl_s=3600)
            try:
                uvloop.run(calls(proxy, token, args.warmup + args.calls, args.gap_ms / 1000, into))
            finally:
                proxy.close()
    finally:
        upstream.stop()
    p50 = {name: round(percentile(values[args.warmup:], 0.5), 1) for name, values in into.items()}
    for name, value in p50.items():
        print(f"{name:28s} p50 {value:8.1f} µs", flush=True)
    print(json.dumps({"date": datetime.now(UTC).strftime("%Y-%m-%d"), "cpu": cpu_model(), "calls": args.calls,
                      "load_average_1m": round(os.getloadavg()[0], 2), "p50_us": p50}))


if __name__ == "__main__":
    main()
