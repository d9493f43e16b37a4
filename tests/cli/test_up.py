"""`warden up` runs the whole embedded stack and leaves nothing behind when it stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.ledger_sink.helpers import wait_for
from warden.broker.tansu import TansuBroker, free_port
from warden.core.settings import WardenSettings
from warden.ledger.endpoint import ENDPOINT_FILE
from warden.sdk import WardenClient
from warden.stack import warden_command

pytestmark = pytest.mark.integration


def clean_env(**extra: str) -> dict[str, str]:
    """The test's own ports, so a stack in a test never collides with anything on this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "KAFKA_", "CLICKHOUSE_"))}
    env["WARDEN_APPROVALS_PORT"] = str(free_port())
    env.update(extra)
    return env


def start_up(env: dict[str, str], data_dir: Path) -> tuple[subprocess.Popen[str], list[psutil.Process]]:
    process = subprocess.Popen([*warden_command(), "up"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)

    def ready() -> bool:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        return (data_dir / ENDPOINT_FILE).exists()

    wait_for(ready, timeout_s=90, what="warden up to be ready")
    return process, psutil.Process(process.pid).children(recursive=True)


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> str:
    process.send_signal(sig)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    return out


def test_up_runs_broker_and_services_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(WARDEN_DATA_DIR=str(tmp_path / "w"), WARDEN_EMBEDDED_BROKER_PORT=str(port),
                    WARDEN_QUERY_PORT="0", WARDEN_APPROVER_TOKENS='{"ops@acme.com": "tok-ops-31c9"}')
    process, children = start_up(env, tmp_path / "w")
    names = " ".join(" ".join(c.cmdline()) for c in children)
    assert "tansu" in names and "ledger-sink" in names and "policy-evaluator" in names and "approvals" in names
    settings = WardenSettings(data_dir=tmp_path / "w", kafka_bootstrap_servers=f"127.0.0.1:{port}")
    with WardenClient(settings) as client:
        run = client.run("acme", "export_report", "agent-1")
        run.started("v1", "p1", "gpt-4o")
        run.completed("succeeded")

    def landed() -> bool:
        sql = "SELECT count() AS n FROM warden.agent_events"
        done = subprocess.run([*warden_command(), "query", "-f", "json", sql],
                              env=env, capture_output=True, text=True, timeout=60)
        return done.returncode == 0 and json.loads(done.stdout.splitlines()[0])["n"] == 2

    wait_for(landed, timeout_s=60, what="two events queryable through the running stack")
    # The operator commands find the approvals service from WARDEN_APPROVALS_PORT alone, as the stack did.
    listed = subprocess.run([*warden_command(), "approvals", "list"], env={**env, "WARDEN_APPROVER_TOKEN":
                            "tok-ops-31c9"}, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "0 pending approval(s)" in listed.stdout, listed.stderr
    # Verify cannot open the ledger the running stack holds: it says so, and what to do.
    refused = subprocess.run([*warden_command(), "ledger", "verify"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "stop it first (Ctrl-C where `warden up` or `warden demo --keep-running` runs)" in refused.stderr
    out = stop(process, signal.SIGINT)
    assert "Warden stopped" in out
    assert f"approvals API: http://127.0.0.1:{env['WARDEN_APPROVALS_PORT']}" in out  # in the banner
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not (tmp_path / "w" / ENDPOINT_FILE).exists()


def test_with_kafka_bootstrap_servers_set_no_broker_is_started(tmp_path: Path) -> None:
    with TansuBroker(free_port()) as external:
        env = clean_env(WARDEN_DATA_DIR=str(tmp_path / "w"), KAFKA_BOOTSTRAP_SERVERS=external.bootstrap,
                        WARDEN_QUERY_PORT="0")
        process, children = start_up(env, tmp_path / "w")
        try:
            assert not any("tansu" in " ".join(c.cmdline()) for c in children)
            assert any("ledger-sink" in " ".join(c.cmdline()) for c in children)
        finally:
            out = stop(process)
        assert f"external Kafka at {external.bootstrap}" in out


def test_with_takes_a_comma_separated_list_and_names_what_it_does_not_know() -> None:
    from typer.testing import CliRunner

    from warden.cli.main import app

    result = CliRunner().invoke(app, ["up", "--with", "tool-proxy,nope"])
    assert result.exit_code == 2
    assert "--with nope: expected one of tool-proxy, otlp-ingest" in result.output  # tool-proxy was understood
