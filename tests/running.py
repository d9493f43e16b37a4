"""Run a live service in a thread of the test process (always stopped and joined afterwards), or as
its own `warden run` process."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

from warden.stack import warden_command


class Runnable(Protocol):
    def run(self, stop: threading.Event) -> None: ...


S = TypeVar("S", bound=Runnable)


@contextmanager
def in_thread(service: S) -> Iterator[S]:
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield service
    finally:
        stop.set()
        thread.join(30)


def start_service(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`warden run NAME` as its own process (what kill -9 tests kill), output appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen([*warden_command(), "run", name], env=env, stdout=out, stderr=subprocess.STDOUT)
