"""kill -9 the sink mid-stream, restart it: every event is queryable exactly once, chains intact.

Runs the real `warden run ledger-sink` process against the session's Tansu broker with its
own chDB path, exactly as `warden up` and the containers run it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.ledger_sink.helpers import produce, simulated, wait_for
from tests.running import start_service
from warden.core.settings import WardenSettings
from warden.ledger import access
from warden.ledger.endpoint import ENDPOINT_FILE
from warden.stack import warden_command

pytestmark = pytest.mark.integration


def service_env(settings: WardenSettings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "KAFKA_", "CLICKHOUSE_"))}
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "WARDEN_TOPIC_PREFIX": settings.topic_prefix,
        "WARDEN_DATA_DIR": str(settings.data_dir.resolve()),
        "WARDEN_QUERY_PORT": "0",
        **extra,
    })
    return env


def start_sink(env: dict[str, str], data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    (data_dir / ENDPOINT_FILE).unlink(missing_ok=True)
    process = start_service("ledger-sink", env, log)
    endpoint = data_dir / ENDPOINT_FILE

    def ready() -> bool:
        assert process.poll() is None, log.read_text()[-3000:]
        return endpoint.exists()

    wait_for(ready, timeout_s=60, what="the sink's query endpoint")
    return process, json.loads(endpoint.read_text())["url"]


def ledger_count(settings: WardenSettings, sql: str) -> int:
    """Through the running sink's endpoint (its token comes from the endpoint file)."""
    assert access.endpoint(settings) is not None
    return int(access.scalar(settings, sql))


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*warden_command(), *args], env=env, capture_output=True, text=True, timeout=120)


def test_kill_9_mid_stream_then_restart_lands_every_event_exactly_once(
        topics: WardenSettings, tmp_path: Path) -> None:
    total = 6000
    events = simulated(total, "kill9")
    env = service_env(topics, WARDEN_BATCH_MAX_ROWS="250", WARDEN_BATCH_MAX_MS="100",
                      WARDEN_GROUP_ID=f"sink-{topics.topic_prefix}")
    data_dir = topics.data_dir
    log = tmp_path / "sink.log"
    sink, url = start_sink(env, data_dir, log)

    def trickle() -> None:
        for i in range(0, total, 500):
            produce(topics, events[i:i + 500])
            time.sleep(0.15)

    producer = threading.Thread(target=trickle)
    producer.start()
    count_sql = "SELECT count() FROM warden.agent_events"
    wait_for(lambda: ledger_count(topics, count_sql) >= 1500, what="a third of the stream to land")
    sink.send_signal(signal.SIGKILL)
    sink.wait(10)
    landed_before = None
    producer.join()

    sink, url = start_sink(env, data_dir, log)
    try:
        landed_before = ledger_count(topics, count_sql)
        wait_for(lambda: ledger_count(topics, count_sql) >= total, timeout_s=90, what=f"{total} events")
        time.sleep(1.0)  # anything duplicated would land within a flush or two
        assert ledger_count(topics, count_sql) == total
        assert ledger_count(topics, "SELECT uniqExact(event_id) FROM warden.agent_events") == total
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert "warden_ledger_sink_rows_landed_total" in metrics
        anonymous = httpx.post(f"{url}/query", json={"sql": count_sql}, timeout=10)
        assert anonymous.status_code == 401  # the token is in the 0600 endpoint file only
        assert (data_dir / ENDPOINT_FILE).stat().st_mode & 0o077 == 0
    finally:
        sink.send_signal(signal.SIGTERM)
        assert sink.wait(30) == 0, log.read_text()[-3000:]
    assert landed_before is not None and landed_before < total

    # With the sink stopped the CLI opens the ledger itself.
    verified = cli(env, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"verified {total} records" in verified.stdout

    victim = events[1234].event_id
    tamper = (
        "import clickhouse_connect, sys; c = clickhouse_connect.get_client(dsn=sys.argv[1]); "
        "c.command(\"ALTER TABLE warden.agent_events UPDATE agent_id = 'mallory' WHERE event_id = '\" "
        "+ sys.argv[2] + \"'\", settings={'mutations_sync': 2})"
    )
    subprocess.run([sys.executable, "-c", tamper, f"chdb://{(data_dir / 'ledger').resolve()}", victim],
                   check=True, timeout=120)
    verified = cli(env, "ledger", "verify")
    assert verified.returncode == 1
    assert victim in verified.stdout
    assert "1 problem" in verified.stdout

    refused = cli(env, "query", "DELETE FROM warden.agent_events WHERE 1")
    assert refused.returncode == 1
    assert "read-only" in refused.stderr
    answered = cli(env, "query", "--format", "csv", "SELECT count() AS n FROM warden.agent_events")
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.split() == ["n", str(total)]
