"""Start and stop `warden demo --keep-running` for the session's demo-data fixture."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.cli.test_up import clean_env
from warden.broker.tansu import free_port
from warden.core.settings import WardenSettings
from warden.stack import warden_command

DEMO_EVENTS = 3000
READY = "The stack stays up"


@dataclass
class DemoLedger:
    """A `warden demo --keep-running` stack: its ledger answers through the loopback endpoint until
    ``stop`` (then the CLI opens it directly, as after a newcomer's Ctrl-C)."""

    settings: WardenSettings
    env: dict[str, str]
    output: list[str]
    process: subprocess.Popen[str]

    def stop(self) -> None:
        stop_demo(self.process)


def start_demo(tmp: Path, timeout_s: float = 420.0) -> tuple[DemoLedger, subprocess.Popen[str]]:
    data_dir = tmp / "w"
    env = clean_env(WARDEN_DATA_DIR=str(data_dir), WARDEN_EMBEDDED_BROKER_PORT=str(free_port()),
                    WARDEN_QUERY_PORT="0", COLUMNS="160")
    process = subprocess.Popen([*warden_command(), "demo", "--events", str(DEMO_EVENTS), "--keep-running"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if READY in line:
                ready.set()

    threading.Thread(target=read, daemon=True, name="demo-output").start()
    deadline = time.monotonic() + timeout_s
    while not ready.wait(0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_demo(process)
            raise AssertionError("warden demo did not come up:\n" + "".join(output)[-4000:])
    return DemoLedger(WardenSettings(data_dir=data_dir), env, output, process), process


def stop_demo(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
