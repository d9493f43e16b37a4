"""Run a live service in a thread of the test process, always stopped and joined afterwards."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar


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
