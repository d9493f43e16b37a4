"""Topic names and their configurations: the contract of DESIGN.md in one place.

Every topic is created explicitly (Tansu auto-creates with 4 partitions and no
configs), so partitions and retention are decided here, not by whoever writes first.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicSpec:
    name: str
    record: str  # Avro record full name carried on the topic
    key: str  # which field keys the messages (ordering unit)
    partitions: int = 6
    config: dict[str, str] = field(default_factory=dict)


AGENT_EVENTS = "agent.events"
POLICY_DECISIONS = "policy.decisions"
RISK_SCORES = "risk.scores"
APPROVAL_REQUESTS = "approvals.requests"
APPROVAL_DECISIONS = "approvals.decisions"
COST_ROLLUPS = "cost.rollups"
ALERTS = "alerts"
CONTROL = "control"
DEADLETTER = "deadletter"
PROXY_CALLS = "proxy.calls"

# Finite: the ledger is the long-term store; a topic holds what its consumers have yet to read.
RAW_RETENTION_MS = 7 * 24 * 3600 * 1000
_KEEP = {"retention.ms": str(RAW_RETENTION_MS), "cleanup.policy": "delete"}

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(AGENT_EVENTS, "warden.AgentEvent", "run_id", config=_KEEP),
    TopicSpec(POLICY_DECISIONS, "warden.PolicyDecision", "run_id", config=_KEEP),
    TopicSpec(RISK_SCORES, "warden.RiskScore", "run_id", config=_KEEP),
    TopicSpec(APPROVAL_REQUESTS, "warden.PolicyDecision", "run_id", config=_KEEP),
    TopicSpec(APPROVAL_DECISIONS, "warden.ApprovalDecision", "run_id", config=_KEEP),
    TopicSpec(COST_ROLLUPS, "warden.CostRollup", "tenant_id", config=_KEEP),
    TopicSpec(ALERTS, "warden.Alert", "tenant_id", config=_KEEP),
    TopicSpec(CONTROL, "warden.Control", "scope", partitions=1, config={"cleanup.policy": "compact"}),
    TopicSpec(DEADLETTER, "warden.DeadLetter", "source_key", config=_KEEP),
    TopicSpec(PROXY_CALLS, "warden.ProxyCall", "run_id", config=_KEEP),
)


PARTITIONS: dict[str, int] = {spec.name: spec.partitions for spec in TOPICS}


def topic_name(base: str, prefix: str = "") -> str:
    """Tests and side-by-side deployments namespace every topic with a prefix."""
    return f"{prefix}{base}"
