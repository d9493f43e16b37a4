"""Every service's /metrics, from a running stack on the shared test broker, passes Prometheus's own linter.

`promtool check metrics` (Debian's `prometheus` package) reads the text format and fails on a family
without HELP or TYPE, a counter without `_total`, a bad name or unit. The stack is what `warden up`
runs against an existing Kafka (the session's broker): one `warden run SERVICE` process per service,
each serving its metrics on WARDEN_METRICS_PORT_BASE + its offset; the HTTP services serve the same
on their own port too.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.ledger_sink.helpers import wait_for
from warden.broker.tansu import free_port
from warden.core.settings import WardenSettings
from warden.ledger.endpoint import ENDPOINT_FILE
from warden.runtime.metrics import METRICS_PORT_OFFSETS
from warden.sdk import WardenClient
from warden.stack import OPTIONAL_SERVICES, SERVICES, Stack

pytestmark = pytest.mark.integration
INSTALL_HINT = "promtool is missing: `make test` installs Debian's package (apt-get install -y prometheus)"
STREAM_SERVICES = ("ledger-sink", "policy-evaluator", "risk-scorer", "cost-aggregator", "anomaly-alerter",
                   "notifier", "rollout-controller")


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        raise AssertionError(INSTALL_HINT)
    return found


def free_block(size: int) -> int:
    """A base port with ``size`` free loopback ports from it."""
    for _ in range(50):
        base = free_port()
        if base + size > 65535:
            continue
        socks = []
        try:
            for port in range(base, base + size):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                socks.append(sock)
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError(f"no {size} consecutive free ports")


def lint(text: str, what: str) -> None:
    checked = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True,
                             timeout=30)
    assert checked.returncode == 0 and not checked.stdout.strip() and not checked.stderr.strip(), \
        f"{what}: promtool check metrics: {checked.stdout}{checked.stderr}"


def scrape(url: str) -> str:
    answer = httpx.get(url, timeout=5)
    answer.raise_for_status()
    assert answer.headers["content-type"].startswith("text/plain; version=")  # the text exposition format
    return answer.text


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name{labels...}`` (labels a subset), or None."""
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


def test_every_service_serves_metrics_promtool_accepts(topics: WardenSettings, tmp_path: Path) -> None:
    base = free_block(len(METRICS_PORT_OFFSETS))
    ports = {"approvals": free_port(), "tool-proxy": free_port(), "otlp-ingest": free_port()}
    settings = topics.model_copy(update={"data_dir": tmp_path / "w"})
    env = {"WARDEN_METRICS_PORT_BASE": str(base), "WARDEN_APPROVALS_PORT": str(ports["approvals"]),
           "WARDEN_PROXY_PORT": str(ports["tool-proxy"]), "WARDEN_OTLP_PORT": str(ports["otlp-ingest"]),
           "WARDEN_METRICS_PORT": "1"}  # ignored by `warden up`: one port per service, never one for all
    services = SERVICES + OPTIONAL_SERVICES
    stack = Stack(settings, services, env=env).start(ready_timeout_s=240)  # 10 processes on a shared machine
    try:
        with WardenClient(settings) as client:  # some traffic, so lag, records and producers have figures
            for i in range(20):
                with client.run("acme", "export_report", "agent-1", user_id=f"u-{i}") as run:
                    run.started(workflow_version="v3", prompt_version="p1", model="gpt-4o-mini")
                    run.llm_call("gpt-4o-mini", "openai", input_tokens=100, output_tokens=20, latency_ms=100.0)
                    run.tool_call_requested("crm", "lookup", {"customer_id": f"c-{i}"})
                    run.completed("succeeded")
        urls = {name: f"http://127.0.0.1:{base + METRICS_PORT_OFFSETS[name]}/metrics" for name in services}
        last: list[str] = ["nothing scraped yet"]

        def up() -> bool:
            for name, child in stack.children.items():
                assert child.process.poll() is None, f"{name} exited: {(stack.log_dir / (name + '.log')).read_text()}"
            texts = {}
            for name, url in urls.items():
                try:
                    texts[name] = scrape(url)
                except httpx.HTTPError as exc:
                    last[0] = f"{name} at {url}: {exc!r}"
                    return False
            evaluator, sink = texts["policy-evaluator"], texts["ledger-sink"]
            figures = (sample(evaluator, "warden_records_processed_total", service="policy-evaluator"),
                       sample(evaluator, "warden_consumer_lag", service="policy-evaluator"),
                       sample(sink, "warden_ledger_sink_rows_landed_total", table="agent_events"))
            last[0] = f"processed, lag, landed: {figures}"
            return (figures[0] or 0) >= 80 and figures[1] is not None and (figures[2] or 0) >= 80

        try:
            wait_for(up, timeout_s=240, what="every service's /metrics, with the traffic counted")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last: {last[0]}") from exc
        texts = {name: scrape(url) for name, url in urls.items()}
        for name, text in texts.items():
            lint(text, f"{name} at {urls[name]}")
            assert "# HELP process_cpu_seconds_total" in text  # prometheus-client's process collector
        for name in STREAM_SERVICES:
            text = texts[name]
            for family in ("warden_records_consumed_total", "warden_records_processed_total",
                           "warden_records_dead_lettered_total", "warden_producer_delivery_failures_total"):
                assert sample(text, family, service=name) is not None, (name, family)
            assert "# TYPE warden_consumer_lag gauge" in text
        evaluator = texts["policy-evaluator"]
        lags = [line for line in evaluator.splitlines() if line.startswith("warden_consumer_lag{")]
        partitions = {re.search(r'partition="(\d+)"', line).group(1) for line in lags}  # type: ignore[union-attr]
        assert len(partitions) > 1, lags  # one sample per partition of agent.events
        assert (sample(evaluator, "warden_records_produced_total", service="policy-evaluator",
                       topic="policy.decisions") or 0) >= 20
        assert sample(texts["notifier"], "warden_notifier_outbox_pending") is None  # no receiver configured
        assert sample(texts["ledger-sink"], "warden_ledger_sink_dead_letters_total") is not None
        assert sample(texts["approvals"], "warden_approvals_pending") == 0
        assert sample(texts["otlp-ingest"], "warden_otlp_ingest_requests_total") == 0
        assert sample(texts["tool-proxy"], "warden_producer_delivery_failures_total", service="tool-proxy") == 0

        # The HTTP services serve the same on their own port; the ledger-sink on its query endpoint.
        endpoint = json.loads((settings.data_dir / ENDPOINT_FILE).read_text())["url"]
        for name, url in {"approvals": f"http://127.0.0.1:{ports['approvals']}/metrics",
                          "tool-proxy": f"http://127.0.0.1:{ports['tool-proxy']}/metrics",
                          "otlp-ingest": f"http://127.0.0.1:{ports['otlp-ingest']}/metrics",
                          "ledger-sink": f"{endpoint}/metrics"}.items():
            text = scrape(url)
            lint(text, f"{name} at {url}")
            assert "# TYPE warden_producer_delivery_failures_total counter" in text, name
    finally:
        stack.stop()


def test_the_compose_prometheus_config_is_valid() -> None:
    config = Path(__file__).resolve().parents[2] / "infra" / "prometheus" / "prometheus.yml"
    checked = subprocess.run([promtool(), "check", "config", str(config)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
