"""Approvals as a pure state machine: requests in, human or timeout decisions out.

The HTTP shell calls ``decide`` and ``expire``; the Kafka shell feeds ``apply``. Keeping the
rules here (one decision per call, a rationale required, expiry keeps the call denied) means
every replica and every restart reach the same answers from the same topics.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from warden.approvals.scopes import ApproverGrant
from warden.core.errors import WardenError
from warden.core.records import ApprovalDecision, ApprovalOutcome, Decision, PolicyDecision, RiskScore

TIMEOUT_APPROVER = "warden:timeout"
_APPROVALS = uuid.UUID("0d3f5b8e-7c41-4a7e-8f0a-2b9c6e1d5a37")


class ApprovalError(WardenError):
    """An approval request that cannot be decided as asked (unknown, already decided, no rationale)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ScopeError(ApprovalError):
    """The approver's token does not cover this call's tenant (403); the shell records the attempt."""

    def __init__(self, message: str, tenant_id: str) -> None:
        super().__init__(message, 403)
        self.tenant_id = tenant_id


TOP_FACTORS = 3
MIN_PREFIX = 6  # a shorter id is too easy to mistype into another call's approval


@dataclass(frozen=True)
class Risk:
    """What an approver needs of a RiskScore: the score and the factors that contributed most."""

    score: float
    top: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, record: RiskScore) -> Risk:
        return cls.weighed(record.score, record.factors, record.contributions)

    @classmethod
    def weighed(cls, score: float, factors: Mapping[str, float], contributions: Mapping[str, float]) -> Risk:
        """A score's parts as the record (or its ledger row) holds them."""
        weighed = contributions or factors  # contributions: weight x value, summing to the score
        top = sorted(((name, value) for name, value in weighed.items() if value > 0), key=lambda f: (-f[1], f[0]))
        return cls(score, tuple(top[:TOP_FACTORS]))


@dataclass
class Pending:
    request: PolicyDecision
    risk: Risk | None = None

    def expires_at(self, timeout: timedelta) -> datetime:
        return self.request.decided_at + timeout


@dataclass
class ApprovalsState:
    pending: dict[str, Pending] = field(default_factory=dict)  # by call_id
    decided: OrderedDict[str, ApprovalDecision] = field(default_factory=OrderedDict)
    risk: OrderedDict[str, Risk] = field(default_factory=OrderedDict)  # by event_id, for requests yet to come
    tenants: OrderedDict[str, str] = field(default_factory=OrderedDict)  # call_id -> tenant, decided ones too
    capacity: int = 200_000


def approval_id(call_id: str) -> str:
    return str(uuid.uuid5(_APPROVALS, call_id))


def apply(state: ApprovalsState, message: BaseModel) -> ApprovalsState:
    if isinstance(message, PolicyDecision) and message.decision == Decision.REQUIRE_APPROVAL:
        if message.call_id not in state.decided:
            state.pending[message.call_id] = Pending(message, state.risk.get(message.event_id))
        state.tenants[message.call_id] = message.tenant_id
        while len(state.tenants) > state.capacity:
            state.tenants.popitem(last=False)
    elif isinstance(message, ApprovalDecision):
        state.pending.pop(message.call_id, None)
        state.decided[message.call_id] = message
        while len(state.decided) > state.capacity:
            state.decided.popitem(last=False)
    elif isinstance(message, RiskScore):
        risk = Risk.of(message)
        state.risk[message.event_id] = risk
        while len(state.risk) > state.capacity:
            state.risk.popitem(last=False)
        for pending in state.pending.values():
            if pending.request.event_id == message.event_id:
                pending.risk = risk
    return state


def decide(state: ApprovalsState, call_id: str, approver: str, outcome: ApprovalOutcome, rationale: str,
           now: datetime, grant: ApproverGrant | None = None, timeout: timedelta | None = None) -> ApprovalDecision:
    """`grant`: the approver's scope; None only where no token is involved (tests of the rules).
    `timeout`: a request older than it is refused though its expiry is not written yet (after a restart,
    or in the second before the expiry thread runs): its time is up, and the call stays denied."""
    waiting = state.pending.get(call_id)
    tenant = waiting.request.tenant_id if waiting is not None else state.tenants.get(call_id)
    if grant is not None and tenant is not None and not grant.may_decide(tenant):
        raise ScopeError(f"{approver} may decide for tenants {grant.tenants}; call {call_id} is tenant {tenant}'s",
                         tenant)
    if not rationale.strip():
        raise ApprovalError("a rationale is required: say why you approve or reject", 422)
    if call_id in state.decided:
        done = state.decided[call_id]
        raise ApprovalError(f"call {call_id} was already decided: {done.decision.value} by {done.approver} "
                            f"at {done.decided_at:%Y-%m-%dT%H:%M:%SZ}", 409)
    pending = state.pending.get(call_id)
    if pending is None:
        raise ApprovalError(f"no pending approval request for call {call_id}", 404)
    if timeout is not None and pending.expires_at(timeout) <= now:
        raise ApprovalError(f"the approval request for call {call_id} expired at "
                            f"{pending.expires_at(timeout):%Y-%m-%dT%H:%M:%SZ}; the call stays denied", 409)
    decision = ApprovalDecision(approval_id=approval_id(call_id), call_id=call_id, run_id=pending.request.run_id,
                                approver=approver, decided_at=now, decision=outcome, rationale=rationale.strip())
    return decision


def resolve(state: ApprovalsState, ref: str, grant: ApproverGrant | None = None) -> str:
    """The call a full id or a short unique prefix names (what `warden approvals approve 22b410b7` sends).

    A full id is taken as it is (decide() then says whether it is pending, decided or unknown).
    A prefix must name exactly one pending call the approver may see; other tenants' calls are
    neither matched nor named, so a prefix cannot probe for them.
    """
    ref = ref.strip()
    if ref in state.pending or ref in state.decided or ref in state.tenants:
        return ref
    if len(ref) < MIN_PREFIX:
        raise ApprovalError(f"no pending approval request for call {ref!r}; a prefix needs at least {MIN_PREFIX} "
                            "characters (`warden approvals list` shows every id in full)", 404)
    matches = sorted(c for c, p in state.pending.items()
                     if c.startswith(ref) and (grant is None or grant.may_decide(p.request.tenant_id)))
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ApprovalError(f"{ref!r} names {len(matches)} pending calls: {', '.join(matches)}; give more of the id",
                            409)
    done = [c for c in state.decided if c.startswith(ref)
            and (grant is None or grant.may_decide(state.tenants.get(c, "")))]
    if len(done) == 1:
        return done[0]  # decide() says who decided it and when
    raise ApprovalError(f"no pending approval request for call {ref!r} (neither an id nor the prefix of one)", 404)


def expire(state: ApprovalsState, now: datetime, timeout: timedelta) -> list[ApprovalDecision]:
    """Requests nobody decided in time: expired, and the call stays denied."""
    return [
        ApprovalDecision(approval_id=approval_id(call_id), call_id=call_id, run_id=p.request.run_id,
                         approver=TIMEOUT_APPROVER, decided_at=now, decision=ApprovalOutcome.EXPIRED,
                         rationale=f"no decision within {timeout.total_seconds():.0f} s; the call stays denied")
        for call_id, p in list(state.pending.items()) if p.expires_at(timeout) <= now
    ]


def utcnow() -> datetime:
    return datetime.now(UTC)
