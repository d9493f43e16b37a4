"""`warden up` supervises its embedded broker: a kill -9 of Tansu mid-stream is recovered, and
every event whose produce was acknowledged lands in the ledger exactly once, also across a stop
and start of `warden up`; a kill switch set before is still in force after both."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
from confluent_kafka import Producer

from tests.cli.test_up import clean_env, start_up, stop
from tests.ledger_sink.helpers import simulated, wait_for
from warden.broker.admin import wait_for_broker
from warden.broker.tansu import free_port
from warden.core.events import AgentEvent
from warden.core.records import ControlKind
from warden.core.settings import WardenSettings
from warden.core.topics import AGENT_EVENTS
from warden.core.wire import wire_for
from warden.kafka import configs
from warden.kafka.control import publish
from warden.sdk import WardenClient
from warden.sdk.client import PRODUCER_DEFAULTS
from warden.stack import warden_command

pytestmark = pytest.mark.integration


class AckedStream:
    """Produces events as the SDK does (same producer settings), at a steady pace, in a thread;
    remembers which ones the broker acknowledged."""

    def __init__(self, settings: WardenSettings, events: list[AgentEvent], per_s: int) -> None:
        self.settings, self.events, self.per_s = settings, events, per_s
        self.acked: set[str] = set()
        self.failed = 0
        self.errors: set[str] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        wire = wire_for(self.settings)
        producer = Producer(configs.producer_config(self.settings, **PRODUCER_DEFAULTS,
                                                    **{"message.timeout.ms": 30000}))

        def delivered(event_id: str, err: object, msg: object) -> None:
            if err is None:
                self.acked.add(event_id)
            else:
                self.failed += 1
                self.errors.add(str(err))

        start = time.monotonic()
        for i, event in enumerate(self.events):
            while time.monotonic() - start < i / self.per_s:
                producer.poll(0.005)
            producer.produce(self.settings.topic(AGENT_EVENTS), wire.encode(event), key=event.run_id.encode(),
                             on_delivery=functools.partial(delivered, event.event_id))
        producer.flush(60)

    def __enter__(self) -> AckedStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(90)


def ledger_event_ids(env: dict[str, str], prefix: str) -> list[str]:
    sql = f"SELECT event_id FROM warden.agent_events WHERE run_id LIKE '{prefix}-%'"
    done = subprocess.run([*warden_command(), "query", "-f", "json", sql], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["event_id"] for line in done.stdout.splitlines() if line.strip()]


def landed_exactly_once(env: dict[str, str], prefix: str, acked: set[str]) -> bool:
    ids = ledger_event_ids(env, prefix)
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} events landed twice"
    return acked <= set(ids)


def tansu_pid(up: subprocess.Popen[str]) -> int | None:
    """The running Tansu under `warden up`, if any (a killed one is a zombie until reaped)."""
    for child in psutil.Process(up.pid).children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and child.name().startswith("tansu"):
                return child.pid
        except psutil.Error:
            continue
    return None


def service_pids(up: subprocess.Popen[str]) -> dict[str, int]:
    found = {}
    for child in psutil.Process(up.pid).children():
        try:
            cmd = child.cmdline()
        except psutil.Error:
            continue
        if "run" in cmd:
            found[cmd[-1]] = child.pid
    return found


def stack_logs(data: Path, lines: int = 25) -> str:
    """The last lines of each of the stack's logs: what a failure under a loaded CI needs to be understood."""
    parts = []
    for log in sorted((data / "logs").glob("*.log")):
        text = log.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {log.name} (last {len(text)} lines)\n" + "\n".join(text))
    return "\n".join(parts)


def missing_after(env: dict[str, str], prefix: str, acked: set[str]) -> str:
    try:
        ids = ledger_event_ids(env, prefix)
    except (AssertionError, subprocess.SubprocessError) as exc:
        return f"the ledger could not be counted: {exc}"
    return (f"{len(acked - set(ids))} of {len(acked)} acknowledged events not in the ledger, "
            f"{len(ids) - len(set(ids))} landed twice")


def denied_by_switch(env: dict[str, str], run_id: str, switch: str) -> bool:
    sql = f"SELECT policy_ids FROM warden.policy_decisions WHERE run_id = '{run_id}'"
    done = subprocess.run([*warden_command(), "query", "-f", "json", sql], env=env, capture_output=True,
                          text=True, timeout=60)
    return done.returncode == 0 and any(switch in json.loads(line)["policy_ids"]
                                        for line in done.stdout.splitlines() if line.strip())


def test_kill_9_of_the_broker_and_a_restart_of_warden_up_lose_no_acknowledged_event(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "w"
    # The default retention: unread batches stay however long a restart takes (ADR 0028).
    env = clean_env(WARDEN_DATA_DIR=str(data), WARDEN_EMBEDDED_BROKER_PORT=str(port), WARDEN_QUERY_PORT="0")
    # the embedded broker as an agent's SDK sees it (no KAFKA_BOOTSTRAP_SERVERS), so its producers
    # get the embedded durable storage's guarantees
    settings = WardenSettings(data_dir=data, embedded_broker_port=port, kafka_extra_config={"log_level": 0})
    prefix = f"kb{os.getpid()}"
    events = simulated(4000, prefix)
    first, second = events[:3000], events[3000:]
    streams: list[AckedStream] = []

    try:
        up, _ = start_up(env, data)
        try:
            publish(settings, ControlKind.KILL, "tenant:frozen", True, "test", "set before the broker dies")
            with AckedStream(settings, first, per_s=1500) as stream:
                streams.append(stream)
                wait_for(lambda: len(stream.acked) > 800, timeout_s=30, what="events acknowledged before the kill")
                victim = tansu_pid(up)
                assert victim is not None
                services = service_pids(up)
                os.kill(victim, signal.SIGKILL)
                wait_for(lambda: tansu_pid(up) not in (None, victim), timeout_s=30, what="the stack to restart Tansu")
            assert up.poll() is None
            assert service_pids(up) == services  # the services rode it out: none crashed or was restarted
            assert stream.failed == 0 and len(stream.acked) == len(first), stream.errors
            wait_for(lambda: landed_exactly_once(env, prefix, stream.acked), timeout_s=90,
                     what="every acknowledged event in the ledger after the broker's restart")
        finally:
            out = stop(up)
        assert "embedded broker restarted" in out or "restarting it" in out

        up, _ = start_up(env, data)
        try:
            wait_for_broker(settings)
            with AckedStream(settings, second, per_s=1500) as more:
                streams.append(more)
            acked = stream.acked | more.acked
            with WardenClient(settings) as client:
                run = client.run("frozen", "refund_ticket", "agent-1", run_id=f"{prefix}-frozen")
                run.tool_call_requested("payments", "refund", {"order_id": "o-1", "amount_usd": 5.0})
            wait_for(lambda: landed_exactly_once(env, prefix, acked), timeout_s=90,
                     what="every acknowledged event, before and after the restart, in the ledger once")
            wait_for(lambda: denied_by_switch(env, f"{prefix}-frozen", "switch:kill:tenant:frozen"), timeout_s=60,
                     what="the switch set before both restarts to deny the call")
        finally:
            stop(up)
    except AssertionError as exc:
        # CI keeps only a failed run's output: say what was missing and what the stack logged
        acked = set().union(*(s.acked for s in streams))
        raise AssertionError(f"{exc}\n{missing_after(env, prefix, acked)}\n{stack_logs(data)}") from exc
