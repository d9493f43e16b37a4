"""A file a running process reads: reloaded when it changes, the last good version kept in force.

The routing file (run.route) and the tool proxy's allow/deny lists are read on every call, so the
file is looked at (one stat) at most once per `interval_s`, and a broken edit is refused with its
reason (`last_error`, logged once per distinct error) instead of taking the process down or
switching the guard off. Hand-written: a watchdog thread per file would be more moving parts than
an mtime check on the caller's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("warden.last_good")


class LastGood(Generic[T]):
    def __init__(self, path: Path, load: Callable[[Path], T], refused: type[Exception] | tuple[type[Exception], ...],
                 what: str, version: Callable[[T], str], interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self._interval_s = interval_s
        self._load, self._refused, self._what, self._version = load, refused, what, version
        self.value = load(self.path)  # no last good one yet: a bad file at start is the caller's error
        self.last_error: str | None = None
        self._stamp = self._mtime()
        self._checked = time.monotonic()
        self.due = self._checked + interval_s  # when the file is next looked at (run.route reads it inline)

    @property
    def interval_s(self) -> float:
        return self._interval_s

    @interval_s.setter
    def interval_s(self, value: float) -> None:
        self._interval_s = value
        self.due = self._checked + value

    def _mtime(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def current(self) -> T:
        if time.monotonic() >= self.due:
            self.check()
        return self.value

    def check(self) -> bool:
        """True when a new version was loaded."""
        self._checked = time.monotonic()
        self.due = self._checked + self._interval_s
        stamp = self._mtime()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            fresh = self._load(self.path)
        except self._refused as exc:
            if str(exc) != self.last_error:
                log.error("%s refused, version %s stays in force: %s", self._what, self._version(self.value), exc)
            self.last_error = str(exc)
            return False
        self.last_error = None
        changed = self._version(fresh) != self._version(self.value)
        self.value = fresh
        if changed:
            log.info("%s reloaded: version %s", self._what, self._version(fresh))
        return changed
