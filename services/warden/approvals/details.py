"""What a pending call asks to do, read back from the ledger for the approver.

An approval request (a PolicyDecision on approvals.requests) names the call but not its tool,
params, workflow or agent: those are on the tool_call_requested event, which the ledger has
already landed, with its params redacted (warden.core.redaction) on the way in. Reading them
from the ledger at list time keeps the request records and their producers as they are and
shows the approver exactly what the auditors will see. In embedded mode only the running
stack's query endpoint is used, never the chDB files themselves (one process per path: the
approvals service must not take the ledger from the ledger-sink).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
    """Looks the calls up once each (what a call asked never changes) and remembers the answers."""

    def __init__(self, settings: WardenSettings, capacity: int = 10_000, timeout_s: float = 5.0) -> None:
        self.settings = settings
        self.capacity = capacity
        self.timeout_s = timeout_s
        self._known: OrderedDict[str, CallDetails] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, requests: list[PolicyDecision]) -> tuple[dict[str, CallDetails], str | None]:
        """Details by event id, and why some are missing (None when every one was found)."""
        found: dict[str, CallDetails] = {}
        wanted: list[PolicyDecision] = []
        with self._lock:
            for request in requests:
                known = self._known.get(request.event_id) or rollout_details(request)
                if known is not None:
                    found[request.event_id] = known
                else:
                    wanted.append(request)
        if not wanted:
            return found, None
        try:
            looked_up = self._lookup(wanted)
        except WardenError as exc:
            return found, f"the ledger could not be read: {exc}"
        with self._lock:
            for event_id, details in looked_up.items():
                self._known[event_id] = details
                while len(self._known) > self.capacity:
                    self._known.popitem(last=False)
        found.update(looked_up)
        missing = len(wanted) - len(looked_up)
        return found, (f"{missing} call(s) not in the ledger yet (it lands events within seconds)" if missing
                       else None)

    def _lookup(self, requests: list[PolicyDecision]) -> dict[str, CallDetails]:
        since: datetime = min(r.decided_at for r in requests) - _MARGIN
        tenants = ", ".join(sorted({_quoted(r.tenant_id) for r in requests}))
        events = ", ".join(sorted({_quoted(r.event_id) for r in requests}))
        sql = (f"SELECT event_id, workflow, agent_id, tool, action, params "
               f"FROM {self.settings.clickhouse_database}.agent_events "
               f"WHERE event_type = 'tool_call_requested' AND tenant_id IN ({tenants}) AND event_id IN ({events}) "
               f"AND occurred_at >= toDateTime64('{since:%Y-%m-%d %H:%M:%S.%f}', 3, 'UTC') "
               f"LIMIT 1 BY event_id")
        _, rows = access.query(self.settings, sql, timeout_s=self.timeout_s, open_embedded=False)
        return {str(event_id): CallDetails(workflow, agent_id, tool, action, _params(params))
                for event_id, workflow, agent_id, tool, action, params in rows}
