"""A look at the embedded broker's storage, on its own thread, every so often."""

from __future__ import annotations

import logging
import threading
from typing import Self

from warden.core.errors import BrokerError


class Periodic:
    """``round`` every ``every_s`` on a daemon thread: a LIST of thousands of keys takes seconds, never on a
    caller's thread. A round that fails on the broker (SeaweedFS or Tansu restarting, which the supervisor
    deals with) is logged at debug and tried again at the next."""

    thread_name = "broker-periodic"

    def __init__(self, every_s: float, log: logging.Logger) -> None:
        self.every_s = every_s
        self._log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def round(self) -> object:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.round()
            except BrokerError as exc:
                self._log.debug("%s skipped a round: %s", self.thread_name, exc)

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
