"""A running process reloads a changed routing file and keeps the last good one when a change is bad."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.routing.helpers import ROUTES, write
from warden.routing.matcher import decide
from warden.routing.policy import RoutingError
from warden.routing.watcher import RoutingWatcher

CHEAP_REFUNDS = '\n[[rules]]\nid = "refunds"\nroute = "cheap"\nwhen.workflow = "refund_ticket"\n'


def touch(path: Path, text: str, bump: int) -> None:
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump))  # a new mtime even on a coarse clock


def test_a_change_is_picked_up(tmp_path: Path) -> None:
    path = write(tmp_path)
    watcher = RoutingWatcher(path, check_every_s=0)
    assert decide(watcher.current(), {"workflow": "refund_ticket"}).route == "default"
    touch(path, ROUTES + CHEAP_REFUNDS, 10**9)
    assert decide(watcher.current(), {"workflow": "refund_ticket"}).route == "cheap"
    assert watcher.last_error is None


def test_a_bad_change_keeps_the_last_good_policy_and_says_why(tmp_path: Path) -> None:
    path = write(tmp_path, CHEAP_REFUNDS)
    watcher = RoutingWatcher(path, check_every_s=0)
    good = watcher.policy.version
    touch(path, ROUTES + CHEAP_REFUNDS.replace('"cheap"', '"cheapest"'), 10**9)
    assert not watcher.check()
    assert watcher.policy.version == good
    assert decide(watcher.current(), {"workflow": "refund_ticket"}).route == "cheap"
    assert watcher.last_error is not None
    assert "line 18: rule 'refunds': route" in watcher.last_error and "'cheapest'" in watcher.last_error
    touch(path, ROUTES, 2 * 10**9)  # fixed: loaded, the error cleared
    assert watcher.check() and watcher.last_error is None


def test_the_file_is_looked_at_only_every_check_interval(tmp_path: Path) -> None:
    path = write(tmp_path)
    watcher = RoutingWatcher(path, check_every_s=3600)
    touch(path, ROUTES + CHEAP_REFUNDS, 10**9)
    assert decide(watcher.current(), {"workflow": "refund_ticket"}).route == "default"  # not yet looked at


def test_a_bad_file_at_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RoutingError):
        RoutingWatcher(write(tmp_path, head="default_route = 3\n"))
