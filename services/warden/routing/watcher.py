"""The routing file as a running process sees it: reloaded when it changes, the last good one kept.

As every watched file (warden.core.last_good): a broken change is refused with
its line (`last_error`) and the policy in force stays. The file is looked at no more than once per
`check_every_s`, so `run.route` pays a clock read, not a stat, per call.
"""

from __future__ import annotations

from pathlib import Path

from warden.core.last_good import LastGood
from warden.routing.policy import RoutingError, RoutingPolicy, load_routing


class RoutingWatcher(LastGood[RoutingPolicy]):
    def __init__(self, path: Path, check_every_s: float = 1.0) -> None:
        super().__init__(path, load_routing, RoutingError, "routing file", lambda p: p.version, check_every_s)

    @property
    def policy(self) -> RoutingPolicy:
        return self.value
