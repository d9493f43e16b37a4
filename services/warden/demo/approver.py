"""A simulated on-duty approver for the demo: decides pending requests through the approvals API.

It decides on what the request asks, the way a human reading it would, so the same calls get the
same answers on every run whatever order they arrive in: a refund over $500 is rejected (amount not
justified by the ticket), an owner grant too (broader than the task needs); other refunds and
grants, calls the risk-scorer routed to a human, and a rollout's promotion whose gates passed are
approved. Every decision carries its rationale. With ``hold_one`` (``warden demo --interactive``)
it leaves the first refund request it sees pending, for the person running the demo to decide.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from warden.core.errors import WardenError

APPROVER = "demo-approver@warden.local"
REFUND_LIMIT_USD = 500.0


@dataclass
class ApproverTally:
    approved: int = 0
    rejected: int = 0
    held: str | None = None  # the call left pending for a human (--interactive)
    rollouts: list[str] = field(default_factory=list)  # promotions approved

    @property
    def decided(self) -> int:
        return self.approved + self.rejected


def judge(call_id: str, tool_action: str | None, params: dict[str, Any]) -> tuple[str, str]:
    """(verb, rationale) for one request, from what it asks."""
    if call_id.startswith("rollout:"):
        return "approve", "gates pass at 25% over the judged runs; release notes reviewed; promote to 100%"
    if tool_action == "payments.refund":
        amount = float(params.get("amount_usd", 0))
        if amount > REFUND_LIMIT_USD:
            return "reject", f"amount ${amount:,.2f} not justified by the ticket (over ${REFUND_LIMIT_USD:,.0f})"
        return "approve", f"customer verified against the order; ${amount:,.2f} within the refund policy"
    if tool_action == "iam.grant_access":
        role = str(params.get("role", ""))
        if role == "owner":
            return "reject", "owner role broader than the task needs; ask for admin"
        return "approve", f"{role} access requested by the team lead"
    return "approve", "reviewed the call flagged by the risk score: consistent with the ticket"


class Approver:
    def __init__(self, url: str, token: str, hold_one: bool = False, timeout_s: float = 15.0) -> None:
        self.url, self.timeout_s, self.hold_one = url, timeout_s, hold_one
        self.headers = {"Authorization": f"Bearer {token}"}
        self.tally = ApproverTally()
        self.calls: dict[str, tuple[str, dict[str, Any]]] = {}  # call_id -> (tool.action, params), as emitted

    def know(self, call_id: str, tool_action: str, params: Any) -> None:
        """What a call asked (the approvals list shows the request's reason; the demo knows the params)."""
        self.calls[call_id] = (tool_action, params if isinstance(params, dict) else {})

    def pending(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/v1/approvals", headers=self.headers, timeout=self.timeout_s)
        if response.status_code == 503:
            return []  # the service is still reading earlier decisions
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()
        return items

    def work(self, say: Callable[[str], None] | None = None) -> int:
        """Decide every request pending now; returns how many were decided."""
        decided = 0
        try:
            for item in self.pending():
                call_id = item["call_id"]
                if call_id == self.tally.held:
                    continue
                tool_action, params = self.calls.get(call_id, (None, {}))
                if self.hold_one and self.tally.held is None and tool_action == "payments.refund":
                    self.tally.held = call_id
                    continue
                verb, rationale = judge(call_id, tool_action, params)
                answer = httpx.post(f"{self.url}/v1/approvals/{call_id}/{verb}", headers=self.headers,
                                    timeout=self.timeout_s, json={"rationale": rationale})
                if answer.status_code in (404, 409):
                    continue  # decided meanwhile
                answer.raise_for_status()
                decided += 1
                if verb == "approve":
                    self.tally.approved += 1
                else:
                    self.tally.rejected += 1
                if call_id.startswith("rollout:"):
                    self.tally.rollouts.append(call_id)
                    if say is not None:
                        say(f"  {APPROVER} approved the promotion ({json.dumps(rationale)})")
        except httpx.HTTPError as exc:
            raise WardenError(f"the demo approver could not use the approvals API at {self.url}: {exc}") from exc
        return decided
