"""What a pending call asks to do, and its risk score when the service has not read it, read back
from the ledger for the approver.

An approval request (a PolicyDecision on approvals.requests) names the call but not its tool,
params, workflow or agent: those are on the tool_call_requested event, which the ledger has
already landed, with its params redacted (warden.core.redaction) on the way in. Reading them
from the ledger at list time keeps the request records and their producers as they are and
shows the approver exactly what the auditors will see. In embedded mode only the running
stack's query endpoint is used, never the chDB files themselves (one process per path: the
approvals service must not take the ledger from the ledger-sink).

A request's risk score normally comes with it, off risk.scores. On the embedded durable broker a
score that every service has read is deleted from the topic after a few minutes (ADR 0028), so an
approvals service restarted later rebuilds its pending requests without their scores: those are read
back from the ledger's risk_scores instead.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from warden.approvals.processor import Risk
from warden.core.errors import WardenError
from warden.core.records import PolicyDecision
from warden.core.settings import WardenSettings
from warden.ledger import access

ROLLOUT_PREFIX = "rollout:"
_MARGIN = timedelta(days=1)  # an event's time vs its request's: clocks and risk scoring may differ


@dataclass(frozen=True)
class CallDetails:
    workflow: str | None
    agent_id: str | None
    tool: str | None
    action: str | None
    params: Any  # the redacted params as JSON (or their text if the ledger holds no valid JSON)

    def view(self) -> dict[str, Any]:
        tool_action = f"{self.tool}.{self.action}" if self.tool else None
        return {"workflow": self.workflow, "agent_id": self.agent_id, "tool": self.tool, "action": self.action,
                "tool_action": tool_action, "params": self.params}


UNKNOWN = CallDetails(None, None, None, None, None)
V = TypeVar("V")


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _params(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def rollout_details(request: PolicyDecision) -> CallDetails | None:
    """A rollout controller's promotion request is about a workflow's release, not a tool call."""
    if not request.call_id.startswith(ROLLOUT_PREFIX):
        return None
    workflows = [p.removeprefix(ROLLOUT_PREFIX) for p in request.policy_ids if p.startswith(ROLLOUT_PREFIX)]
    return CallDetails(workflows[0] if workflows else None, None, "rollout", "promote", None)


class Details:
    """Looks the calls (and missing risk scores) up once each and remembers what was found: what a call
    asked and how it was scored never change. What is not found yet is asked again at the next listing
    (the ledger lands within seconds)."""

    def __init__(self, settings: WardenSettings, capacity: int = 10_000, timeout_s: float = 5.0) -> None:
        self.settings = settings
        self.capacity = capacity
        self.timeout_s = timeout_s
        self._known: OrderedDict[str, CallDetails] = OrderedDict()
        self._risks: OrderedDict[str, Risk] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, requests: list[PolicyDecision]) -> tuple[dict[str, CallDetails], str | None]:
        """Details by event id, and why some are missing (None when every one was found)."""
        found: dict[str, CallDetails] = {}
        wanted: list[PolicyDecision] = []
        for request in requests:
            made = rollout_details(request)
            if made is not None:
                found[request.event_id] = made
            else:
                wanted.append(request)
        known, missing, problem = self._remembered(self._known, wanted, self._lookup)
        found.update(known)
        if problem is None and missing:
            problem = f"{missing} call(s) not in the ledger yet (it lands events within seconds)"
        return found, problem

    def risks(self, requests: list[PolicyDecision]) -> dict[str, Risk]:
        """Risk by event id from the ledger, for requests whose score the service has not read; a score not
        landed (or not made: a rollout's request has none) is simply absent, as it is off the topic."""
        wanted = [r for r in requests if rollout_details(r) is None]
        found, _, _ = self._remembered(self._risks, wanted, self._lookup_risks)
        return found

    def _remembered(self, memory: OrderedDict[str, V], requests: list[PolicyDecision],
                    lookup: Callable[[list[PolicyDecision]], dict[str, V]]) -> tuple[dict[str, V], int, str | None]:
        """What ``memory`` holds of the requests' event ids plus what ``lookup`` finds of the rest (kept in
        it); how many are still missing; why the ledger could not be read (None if it was)."""
        found: dict[str, V] = {}
        wanted: list[PolicyDecision] = []
        with self._lock:
            for request in requests:
                known = memory.get(request.event_id)
                if known is not None:
                    found[request.event_id] = known
                else:
                    wanted.append(request)
        if not wanted:
            return found, 0, None
        try:
            looked_up = lookup(wanted)
        except WardenError as exc:
            return found, len(wanted), f"the ledger could not be read: {exc}"
        with self._lock:
            for event_id, value in looked_up.items():
                memory[event_id] = value
                while len(memory) > self.capacity:
                    memory.popitem(last=False)
        found.update(looked_up)
        return found, len(wanted) - len(looked_up), None

    def _where(self, requests: list[PolicyDecision]) -> str:
        """The requests' tenants and event ids (both key the tables' look-ups)."""
        tenants = ", ".join(sorted({_quoted(r.tenant_id) for r in requests}))
        events = ", ".join(sorted({_quoted(r.event_id) for r in requests}))
        return f"tenant_id IN ({tenants}) AND event_id IN ({events})"

    def _lookup(self, requests: list[PolicyDecision]) -> dict[str, CallDetails]:
        since: datetime = min(r.decided_at for r in requests) - _MARGIN
        sql = (f"SELECT event_id, workflow, agent_id, tool, action, params "
               f"FROM {self.settings.clickhouse_database}.agent_events "
               f"WHERE event_type = 'tool_call_requested' AND {self._where(requests)} "
               f"AND occurred_at >= toDateTime64('{since:%Y-%m-%d %H:%M:%S.%f}', 3, 'UTC') "
               f"LIMIT 1 BY event_id")
        _, rows = access.query(self.settings, sql, timeout_s=self.timeout_s, open_embedded=False)
        return {str(event_id): CallDetails(workflow, agent_id, tool, action, _params(params))
                for event_id, workflow, agent_id, tool, action, params in rows}

    def _lookup_risks(self, requests: list[PolicyDecision]) -> dict[str, Risk]:
        # The maps as key and value arrays: the same from the stack's query endpoint (JSON) and from chDB.
        sql = (f"SELECT event_id, score, mapKeys(factors), mapValues(factors), mapKeys(contributions), "
               f"mapValues(contributions) FROM {self.settings.clickhouse_database}.risk_scores "
               f"WHERE subject = 'tool_call' AND {self._where(requests)} LIMIT 1 BY event_id")
        _, rows = access.query(self.settings, sql, timeout_s=self.timeout_s, open_embedded=False)
        return {str(event_id): Risk.weighed(float(score), dict(zip(factor_names, factor_values, strict=True)),
                                            dict(zip(part_names, part_values, strict=True)))
                for event_id, score, factor_names, factor_values, part_names, part_values in rows}
