"""Tool proxy benchmark: what the proxy adds to a tool call, and how many calls/s one replica serves.

In one run, against one local upstream (the reference tools, its own process) and one embedded
Tansu broker:
  overhead   the same call (crm.lookup) made directly to the upstream and through a real
             `warden run tool-proxy` process, interleaved on one keep-alive connection each;
             overhead = proxied - direct per pair; p50 / p99 of it. The proxied time holds the
             token check, scope, lists, rate limits (per process by default, --shared-store for the
             SQLite store), schema, the tool_call_requested queued for Kafka, switches, Cedar, the
             upstream call and the output schema; the call's two closing records are built, redacted
             and queued right after its answer (ADR 0022), on the same event loop: a call that
             follows at once (half the proxied calls here follow another) waits for them.
  floor      the same pairs against a bare forwarder (benchmarks/bare_forwarder.py: the same uvicorn
             and aiohttp hop, no checks, no records), right after: what the hop alone adds.
  throughput proxied calls/s with --concurrency callers (each its own run) on one asyncio client.
Target (issue 15): overhead p50 <= 1x the direct call's p50 in the same run (overhead_vs_direct).
The last line printed is one JSON object.

    .venv/bin/python benchmarks/proxy.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import yaml
from confluent_kafka import Consumer, TopicPartition

from harness import cpu_model, percentile, service_env, spawn  # a sibling script, not a package
from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core import topics
from warden.core.records import ProxyCall
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.supervise import child_preexec
from warden.tool_proxy.inventory import DEFAULT_INVENTORY
from warden.tool_proxy.tokens import Keyring

KEY = ("bench", "bench-key-0123456789abcdef0123456789abcdef")
SECRET = "sk-bench-crm-0123456789"
LIMIT = {"rate_per_s": 1e9, "burst": 1e9}


def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)  # any answer: it listens
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up within {timeout_s:.0f} s")


def inventory(work: Path, upstream: str) -> Path:
    data = yaml.safe_load(DEFAULT_INVENTORY.read_text())
    data["defaults"]["rate_limits"] = {"per_tenant": LIMIT, "per_tool": LIMIT, "per_run": LIMIT}
    for name, tool in data["tools"].items():
        tool["upstream_url"] = f"{upstream}/{name}"
        tool.pop("rate_limits", None)
    path = work / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def token(run: str) -> str:
    issued, _ = Keyring(dict([KEY])).issue(tenant_id="acme", workflow="refund_ticket", run_id=run,
                                           agent_id="bench-agent", tools=frozenset({"crm.lookup"}),
                                           now=time.time(), ttl_s=3600)
    return issued


def overhead(upstream: str, proxy: str, pairs: int, warmup: int) -> tuple[list[float], list[float], list[float]]:
    """``proxy``: the tool proxy, or the bare forwarder (which ignores the token)."""
    direct_ms: list[float] = []
    proxied_ms: list[float] = []
    headers = {"Authorization": f"Bearer {token('bench-overhead')}"}
    with httpx.Client(timeout=10) as direct, httpx.Client(timeout=10, headers=headers) as proxied:
        for i in range(warmup + pairs):
            payload = {"customer_id": f"c{i}"}

            def go_direct(payload: dict[str, str] = payload) -> float:
                t0 = time.perf_counter()
                r = direct.post(f"{upstream}/crm/lookup", json=payload, headers={"Authorization": f"Bearer {SECRET}"})
                took = (time.perf_counter() - t0) * 1000
                assert r.status_code == 200, r.text
                return took

            def go_proxied(payload: dict[str, str] = payload) -> float:
                t0 = time.perf_counter()
                r = proxied.post(f"{proxy}/v1/tools/crm/lookup", json={"input": payload})
                took = (time.perf_counter() - t0) * 1000
                assert r.status_code == 200, r.text
                return took

            if i % 2:  # alternate the order: neither side always runs on a warmer cache
                d, p = go_direct(), go_proxied()
            else:
                p, d = go_proxied(), go_direct()
            if i >= warmup:
                direct_ms.append(d)
                proxied_ms.append(p)
    return direct_ms, proxied_ms, [p - d for p, d in zip(proxied_ms, direct_ms, strict=True)]


def cpu_s(process: subprocess.Popen[bytes]) -> float:
    """User + system CPU seconds the process has used (all its threads)."""
    times = psutil.Process(process.pid).cpu_times()
    return float(times.user + times.system)


def throughput(proxy: str, concurrency: int, seconds: float) -> float:
    """``concurrency`` callers on one asyncio loop (aiohttp): a Python client in threads saturates first."""
    import asyncio

    import aiohttp

    async def run() -> float:
        done = 0
        deadline = time.perf_counter() + seconds

        async def caller(session: aiohttp.ClientSession, n: int) -> None:
            nonlocal done
            headers = {"Authorization": f"Bearer {token(f'bench-tp-{n}')}", "Content-Type": "application/json"}
            body = json.dumps({"input": {"customer_id": "c"}}).encode()
            while time.perf_counter() < deadline:
                async with session.post(f"{proxy}/v1/tools/crm/lookup", data=body, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, r.status
                done += 1

        t0 = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(caller(session, n) for n in range(concurrency)))
        return done / (time.perf_counter() - t0)

    return asyncio.run(run())


def breakdown(settings: WardenSettings, expected: int) -> tuple[list[float], list[float]]:
    """The proxy's own account of each call (its ProxyCall records): whole handler and upstream leg."""
    consumer = Consumer({**settings.kafka_config(), "group.id": "bench-read", "enable.auto.commit": False})
    name = settings.topic(topics.PROXY_CALLS)
    parts = consumer.list_topics(name, timeout=10).topics[name].partitions
    consumer.assign([TopicPartition(name, p, 0) for p in parts])
    wire = wire_for(settings)
    handler: list[float] = []
    leg: list[float] = []
    deadline = time.monotonic() + 60
    while len(handler) < expected and time.monotonic() < deadline:
        for msg in consumer.consume(5000, 0.5):
            if msg.error() is None and msg.value() is not None:
                record = wire.decode(msg.value(), "warden.ProxyCall")
                assert isinstance(record, ProxyCall)
                if record.run_id == "bench-overhead" and record.upstream_latency_ms is not None:
                    handler.append(record.latency_ms)
                    leg.append(record.upstream_latency_ms)
    consumer.close()
    return handler, leg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent callers for calls/s")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--shared-store", action="store_true", help="rate limits in the SQLite store")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="warden-proxy-bench-"))
    up_port, proxy_port, bare_port = free_port(), free_port(), free_port()
    bare_url = f"http://127.0.0.1:{bare_port}"
    upstream_url, proxy_url = f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{proxy_port}"
    with TansuBroker(free_port(), log_path=work / "tansu.log") as broker:
        settings = WardenSettings(data_dir=work / "data", kafka_bootstrap_servers=broker.bootstrap,
                                  topic_prefix="xbench.")
        ensure_topics(settings)
        env = service_env(settings, **{
            "WARDEN_PROXY_PORT": str(proxy_port),
            "WARDEN_PROXY_INVENTORY": str(inventory(work, upstream_url)),
            "WARDEN_PROXY_ACCESS_LISTS": str(work / "access.yaml"),
            "WARDEN_PROXY_SIGNING_KEYS": json.dumps(dict([KEY])),
            "WARDEN_PROXY_UPSTREAM_SECRETS": json.dumps({"crm-api-key": SECRET}),
        })
        if args.shared_store:
            env["WARDEN_PROXY_SHARED_STORE"] = f"sqlite://{work}/proxy-store.db"
        with open(work / "upstream.log", "ab") as up_log:
            up = subprocess.Popen([sys.executable, "-m", "warden.tool_proxy.reference_upstream", str(up_port)],
                                  stdout=up_log, stderr=subprocess.STDOUT, preexec_fn=child_preexec)
            bare = subprocess.Popen([sys.executable, str(Path(__file__).with_name("bare_forwarder.py")),
                                     str(bare_port), upstream_url], stdout=up_log, stderr=subprocess.STDOUT,
                                    preexec_fn=child_preexec)
        proxy = spawn("tool-proxy", env, work / "proxy.log")
        try:
            wait_http(f"{proxy_url}/health")
            wait_http(f"{upstream_url}/")
            wait_http(f"{bare_url}/")
            cpu0 = cpu_s(proxy)
            time.sleep(3)
            idle_cores = (cpu_s(proxy) - cpu0) / 3
            print(f"proxy idle: {idle_cores:.3f} cores (its threads and librdkafka's, no calls)", flush=True)
            cpu0 = cpu_s(proxy)
            direct_ms, proxied_ms, over_ms = overhead(upstream_url, proxy_url, args.pairs, args.warmup)
            proxy_cpu_us = (cpu_s(proxy) - cpu0) / (args.pairs + args.warmup) * 1e6
            ratio = percentile(over_ms, .5) / percentile(direct_ms, .5)
            print(f"overhead: p50 {percentile(over_ms, .5):.3f} ms, p99 {percentile(over_ms, .99):.3f} ms "
                  f"(direct p50 {percentile(direct_ms, .5):.3f} ms, proxied p50 {percentile(proxied_ms, .5):.3f} ms); "
                  f"overhead / direct {ratio:.2f} (target <= 1); proxy CPU {proxy_cpu_us:.0f} µs per call", flush=True)
            cpu0 = cpu_s(bare)
            bare_direct_ms, _, bare_over_ms = overhead(upstream_url, bare_url, args.pairs, args.warmup)
            bare_cpu_us = (cpu_s(bare) - cpu0) / (args.pairs + args.warmup) * 1e6
            bare_ratio = percentile(bare_over_ms, .5) / percentile(bare_direct_ms, .5)
            print(f"floor, a bare forwarder (same hop, no checks): overhead p50 {percentile(bare_over_ms, .5):.3f} ms "
                  f"(direct p50 {percentile(bare_direct_ms, .5):.3f} ms); overhead / direct {bare_ratio:.2f}; "
                  f"its CPU {bare_cpu_us:.0f} µs per call",
                  flush=True)
            handler_ms, leg_ms = breakdown(settings, args.pairs + args.warmup)
            print(f"inside the proxy: handler p50 {percentile(handler_ms, .5):.3f} ms, of which the upstream leg "
                  f"p50 {percentile(leg_ms, .5):.3f} ms", flush=True)
            rate = throughput(proxy_url, args.concurrency, args.seconds)
            print(f"throughput: {rate:,.0f} proxied calls/s with {args.concurrency} concurrent callers", flush=True)
            health = httpx.get(f"{proxy_url}/health").json()
        finally:
            for child in (proxy, up, bare):
                child.terminate()
                child.wait(30)

    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "pairs": len(over_ms),
        "store": "sqlite" if args.shared_store else "per-process",
        "direct_p50_ms": round(percentile(direct_ms, 0.50), 3),
        "proxied_p50_ms": round(percentile(proxied_ms, 0.50), 3),
        "overhead_p50_ms": round(percentile(over_ms, 0.50), 3),
        "overhead_p99_ms": round(percentile(over_ms, 0.99), 3),
        "proxied_calls_per_s": round(rate, 1),
        "handler_p50_ms": round(percentile(handler_ms, 0.50), 3),
        "upstream_leg_p50_ms": round(percentile(leg_ms, 0.50), 3),
        "concurrency": args.concurrency,
        "undelivered_records": health["undelivered_records"],
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu": cpu_model(),
        "overhead_vs_direct": round(ratio, 3),
        "bare_overhead_p50_ms": round(percentile(bare_over_ms, 0.50), 3),
        "bare_direct_p50_ms": round(percentile(bare_direct_ms, 0.50), 3),
        "bare_overhead_vs_direct": round(bare_ratio, 3),
        "proxy_cpu_us_per_call": round(proxy_cpu_us, 1),
        "proxy_idle_cores": round(idle_cores, 3),
        "bare_cpu_us_per_call": round(bare_cpu_us, 1),
        "target_overhead_vs_direct": 1.0,
        "target_met": ratio <= 1.0,
        "overhead_p50_within_2ms": percentile(over_ms, 0.50) <= 2.0,  # issue 6's absolute target
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
