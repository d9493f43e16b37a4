"""The SDK gate: ask Warden before calling a tool, and get the final verdict back.

A watcher follows policy.decisions, risk.scores and approvals.decisions from the moment it
starts (it takes the topics' high watermarks first; Tansu's are low by up to a batch, which
only re-reads a few records), so a verdict is a dictionary lookup once it arrives. A call with
no policy verdict before the timeout is denied: the gate fails closed.

A call policy allows is held for its risk score (``risk_timeout_s``): if the risk-scorer routed
it to a human, the gate waits for the approval like a policy approval. If no score arrives in
time the call is allowed (risk routing fails open, unless the caller asks for
``risk_required``): policy, which fails closed, has already allowed it, and an outage of the
advisory risk layer must not stop every agent. The verdict's reason says so, and after one such
timeout the gate stops waiting for scores until a score arrives again, so a deployment without
a risk-scorer pays the wait once, not per call.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from warden.core import topics
from warden.core.errors import DecodeError, ValidationError
from warden.core.records import ApprovalDecision, Decision, PolicyDecision, RiskScore
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.kafka import clients
from warden.kafka.configs import Fetch
from warden.kafka.consume import assign_at_end, drain

ALLOWED = {"allow", "approved"}
MAX_KEPT = 100_000


@dataclass(frozen=True)
class GateVerdict:
    outcome: str  # allow | deny | approved | rejected | expired
    reason: str
    decision: PolicyDecision | None = None
    approval: ApprovalDecision | None = None
    risk: RiskScore | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome in ALLOWED


class DecisionWatcher:
    def __init__(self, settings: WardenSettings) -> None:
        self._wire = wire_for(settings)
        self._decisions: dict[str, PolicyDecision] = {}
        self._approvals: dict[str, ApprovalDecision] = {}
        self._risk: dict[str, RiskScore] = {}
        self._risk_silent = False  # a score timed out; do not wait again until one arrives
        self._changed = threading.Condition()
        self._consumer = clients.reader(settings, "warden-sdk-gate", Fetch(wait_ms=10))
        names = [settings.topic(topics.POLICY_DECISIONS), settings.topic(topics.APPROVAL_DECISIONS),
                 settings.topic(topics.RISK_SCORES)]
        assign_at_end(self._consumer, names, "the gate", settings.bootstrap_servers)
        self._names = dict(zip(names, ("warden.PolicyDecision", "warden.ApprovalDecision", "warden.RiskScore"),
                               strict=True))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="warden-sdk-gate", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            messages = drain(self._consumer, 500, 0.05)
            if not messages:
                continue
            with self._changed:
                for msg in messages:
                    if msg.error() is not None or msg.value() is None:
                        continue
                    try:
                        record = self._wire.decode(msg.value(), self._names[msg.topic() or ""])
                    except (DecodeError, ValidationError):
                        continue
                    if isinstance(record, PolicyDecision):
                        self._decisions[record.call_id] = record
                    elif isinstance(record, ApprovalDecision):
                        self._approvals[record.call_id] = record
                    elif isinstance(record, RiskScore) and record.call_id is not None:
                        self._risk[record.call_id] = record
                        self._risk_silent = False
                tables: tuple[dict[str, Any], ...] = (self._decisions, self._approvals, self._risk)
                for table in tables:  # other agents' calls nobody asks about
                    while len(table) > MAX_KEPT:
                        del table[next(iter(table))]
                self._changed.notify_all()

    def verdict(self, call_id: str, timeout_s: float, approval_timeout_s: float | None = None,
                risk_timeout_s: float = 2.0, risk_required: bool = False) -> GateVerdict:
        """Wait ``timeout_s`` for the policy decision; when it requires approval, wait up to
        ``approval_timeout_s`` more for the human (default: no more than ``timeout_s`` in all).
        An allowed call waits up to ``risk_timeout_s`` more for its risk score, and for a human
        when the score routes it to one."""
        deadline = time.monotonic() + timeout_s
        extended = False
        risk_deadline: float | None = None
        with self._changed:
            while True:
                decision = self._decisions.get(call_id)
                approval = self._approvals.get(call_id)
                risk = self._risk.get(call_id)
                if decision is not None and decision.decision == Decision.DENY:
                    self._forget(call_id)
                    return GateVerdict(decision.decision.value, decision.reason, decision, risk=risk)
                if decision is not None and approval is not None:
                    self._forget(call_id)
                    return GateVerdict(approval.decision.value,
                                       f"{approval.decision.value} by {approval.approver}: {approval.rationale}",
                                       decision, approval, risk)
                held = decision is not None and decision.decision == Decision.REQUIRE_APPROVAL
                if decision is not None and decision.decision == Decision.ALLOW:
                    if risk is not None and risk.route_to_human:
                        held = True  # the riskiest allowed calls wait for a human like a policy approval
                    elif risk is not None:
                        self._forget(call_id)
                        return GateVerdict("allow", decision.reason, decision, risk=risk)
                    else:
                        if risk_deadline is None:
                            waits = risk_required or not self._risk_silent
                            risk_deadline = time.monotonic() + (risk_timeout_s if waits else 0.0)
                        if time.monotonic() >= risk_deadline:
                            self._forget(call_id)
                            if risk_required:
                                return GateVerdict("deny", f"no risk score for call {call_id} within "
                                                           f"{risk_timeout_s:g} s and the caller requires one: "
                                                           "denied", decision)
                            self._risk_silent = True
                            return GateVerdict("allow", f"{decision.reason} (no risk score within "
                                                        f"{risk_timeout_s:g} s: allowed, risk routing fails open)",
                                               decision)
                if held and not extended and approval_timeout_s is not None:
                    deadline, extended = time.monotonic() + approval_timeout_s, True
                if risk_deadline is not None and not held:
                    self._changed.wait(max(0.0, risk_deadline - time.monotonic()))
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    waiting = "a human approval" if held else "a policy decision"
                    return GateVerdict("deny", f"no verdict for call {call_id} in time (waiting for {waiting}): "
                                               "denied, the gate fails closed", decision, risk=risk)
                self._changed.wait(left)

    def _forget(self, call_id: str) -> None:
        """Verdicts are handed out once; drop them so a long-lived agent does not keep them all."""
        self._decisions.pop(call_id, None)
        self._approvals.pop(call_id, None)
        self._risk.pop(call_id, None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()
