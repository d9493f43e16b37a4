"""Topic names and their configurations: the contract of DESIGN.md in one place.

Every topic is created explicitly (Tansu auto-creates with 4 partitions and no
configs), so partitions and retention are decided here, not by whoever writes first.

The raw topics hold what agents sent before the ledger-sink redacted it, so they keep it only
as long as a consumer may need to catch up or replay (``WARDEN_TOPIC_RETENTION_HOURS``, 7 days by
default); the ledger is the long-term store. The control topic is compacted: a switch stays set.
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
EVAL_RUNS = "eval.runs"
EVAL_RESULTS = "eval.results"
ROLLOUT_DECISIONS = "rollout.decisions"

_KEEP = {"cleanup.policy": "delete"}  # retention.ms from the settings: topic_config

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
    TopicSpec(EVAL_RUNS, "warden.EvalRun", "eval_run_id", partitions=1, config=_KEEP),
    TopicSpec(EVAL_RESULTS, "warden.EvalResult", "eval_run_id", config=_KEEP),
    TopicSpec(ROLLOUT_DECISIONS, "warden.RolloutDecision", "workflow", partitions=1, config=_KEEP),
)


PARTITIONS: dict[str, int] = {spec.name: spec.partitions for spec in TOPICS}


def topic_config(spec: TopicSpec, retention_hours: float) -> dict[str, str]:
    """The configs a topic is created with: a finite retention for every topic that deletes."""
    config = dict(spec.config)
    if config.get("cleanup.policy") == "delete":
        config["retention.ms"] = str(int(retention_hours * 3_600_000))
    return config


def expiring(retention_hours: float, specs: tuple[TopicSpec, ...] | None = None) -> frozenset[str]:
    """The topics whose records expire (delete policy, finite retention), by base name: on them a jump in
    offsets is records gone before they were read (compacted topics skip offsets by design)."""
    found = TOPICS if specs is None else specs
    return frozenset(s.name for s in found if int(topic_config(s, retention_hours).get("retention.ms", "-1")) > 0
                     and "compact" not in topic_config(s, retention_hours).get("cleanup.policy", "delete"))


def topic_name(base: str, prefix: str = "") -> str:
    """Tests and side-by-side deployments namespace every topic with a prefix."""
    return f"{prefix}{base}"
