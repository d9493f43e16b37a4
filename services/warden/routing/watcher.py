"""The routing file as a running process sees it: reloaded when it changes, the last good one kept.

Like the policy bundle's watcher (warden.policy.bundle.BundleWatcher): a broken change is refused with
its line (`last_error`) and the policy in force stays. The file is looked at no more than once per
`check_every_s`, so `run.route` pays a clock read, not a stat, per call.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from warden.routing.policy import RoutingError, RoutingPolicy, load_routing

log = logging.getLogger(__name__)


class RoutingWatcher:
    def __init__(self, path: Path, check_every_s: float = 1.0) -> None:
        self.path = Path(path)
        self.check_every_s = check_every_s
        self.policy = load_routing(self.path)  # no last good one yet: a bad file is the caller's error
        self.last_error: str | None = None
        self._stamp = self._mtime()
        self._checked = time.monotonic()

    def _mtime(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def current(self) -> RoutingPolicy:
        if time.monotonic() - self._checked >= self.check_every_s:
            self.check()
        return self.policy

    def check(self) -> bool:
        """True when a new policy was loaded."""
        self._checked = time.monotonic()
        stamp = self._mtime()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            fresh = load_routing(self.path)
        except RoutingError as exc:
            if str(exc) != self.last_error:
                log.error("routing file refused, version %s stays in force: %s", self.policy.version, exc)
            self.last_error = str(exc)
            return False
        self.last_error = None
        changed = fresh.version != self.policy.version
        self.policy = fresh
        return changed
