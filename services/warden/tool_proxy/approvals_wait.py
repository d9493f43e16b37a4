"""Waiting for a human: follow approvals.decisions and wake the request that waits for a call.

The proxy publishes the require_approval decision to approvals.requests itself (the approvals
service keys pending requests by call id, so the stream evaluator's identical request is the
same request), then awaits the ApprovalDecision for that call id here. Decisions are read from
the topic's end at start: a decision is only ever awaited for a request this replica just made.

A decision answers only the call it was made for: the call id is the proxy's own uuid4 (never the
agent's), no past decision is ever handed to a new call, and the decision's run must be the
waiting call's run. (ApprovalDecision carries no event id, so the run is the second key checked.)
"""

from __future__ import annotations

import asyncio
import logging
import threading

from warden.core import topics
from warden.core.errors import DecodeError, ValidationError
from warden.core.records import ApprovalDecision
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.kafka import clients
from warden.kafka.configs import Fetch
from warden.kafka.consume import assign_at_end, drain

log = logging.getLogger("warden.tool_proxy")
_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Future[ApprovalDecision], str]


class ApprovalFollower:
    def __init__(self, settings: WardenSettings) -> None:
        self._wire = wire_for(settings)
        self._lock = threading.Lock()
        self._waiters: dict[str, list[_Waiter]] = {}
        self._consumer = clients.reader(settings, "warden-tool-proxy-approvals", Fetch(wait_ms=10))
        name = settings.topic(topics.APPROVAL_DECISIONS)
        assign_at_end(self._consumer, [name], "the tool proxy", settings.bootstrap_servers)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="tool-proxy-approvals", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            for msg in drain(self._consumer, 500, 0.1):
                if msg.error() is not None or msg.value() is None:
                    continue
                try:
                    record = self._wire.decode(msg.value(), "warden.ApprovalDecision")
                except (DecodeError, ValidationError):
                    continue
                if isinstance(record, ApprovalDecision):
                    self._deliver(record)

    def _deliver(self, decision: ApprovalDecision) -> None:
        with self._lock:
            waiters = self._waiters.pop(decision.call_id, [])
            mine = [w for w in waiters if w[2] == decision.run_id]
            others = [w for w in waiters if w[2] != decision.run_id]
            if others:
                self._waiters[decision.call_id] = others
        if others:
            log.warning("approval decision for call %s names run %s, not the waiting call's run: ignored",
                        decision.call_id, decision.run_id)
        for loop, future, _run in mine:
            loop.call_soon_threadsafe(_resolve, future, decision)

    def expect(self, call_id: str, run_id: str) -> asyncio.Future[ApprovalDecision]:
        """Register before publishing the request, so a fast decision cannot be missed. Only a decision
        made after this, for this call id and this run, resolves the future."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ApprovalDecision] = loop.create_future()
        with self._lock:
            self._waiters.setdefault(call_id, []).append((loop, future, run_id))
        return future

    def forget(self, call_id: str) -> None:
        with self._lock:
            self._waiters.pop(call_id, None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


def _resolve(future: asyncio.Future[ApprovalDecision], decision: ApprovalDecision) -> None:
    if not future.done():  # the waiter may have timed out meanwhile
        future.set_result(decision)
