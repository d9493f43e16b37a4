"""Typed output records of the stream processors (schemas/*.avsc besides agent_event).

Policy, risk, approvals, cost and alerts are produced by later services; their
contracts are fixed now so the ledger lands them from day one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warden.core.events import utc_millis


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _millis(cls, value: Any) -> Any:
        return utc_millis(value) if isinstance(value, datetime) else value

    def to_avro(self) -> dict[str, Any]:
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in self.model_dump().items()}


class Decision(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"


class PolicyDecision(_Record):
    decision_id: str
    event_id: str
    call_id: str
    run_id: str
    tenant_id: str
    decided_at: datetime
    decision: Decision
    policy_ids: list[str]
    reason: str
    policy_version: str
    stop_ship: bool = False


class RiskScore(_Record):
    event_id: str
    run_id: str
    score: float = Field(ge=0.0, le=1.0)
    factors: dict[str, float]
    route_to_human: bool
    tenant_id: str = ""
    workflow: str = ""
    call_id: str | None = None
    subject: str = Field("tool_call", pattern="^(tool_call|run)$")
    contributions: dict[str, float] = Field(default_factory=dict)
    threshold: float | None = None
    reason: str = ""
    weights_version: str = ""
    scored_at: datetime | None = None


class ApprovalOutcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ApprovalDecision(_Record):
    approval_id: str
    call_id: str
    run_id: str
    approver: str
    decided_at: datetime
    decision: ApprovalOutcome
    rationale: str


class CostRollup(_Record):
    window_start: datetime
    window_end: datetime
    tenant_id: str
    workflow: str
    model: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cost_usd: float = Field(ge=0)
    runs_completed: int = Field(ge=0)
    runs_succeeded: int = Field(ge=0)
    rollup_id: str = ""
    window: str = Field("1m", pattern="^(1m|1h)$")
    route: str = ""
    cached_tokens: int = Field(0, ge=0)
    calls: int = Field(0, ge=0)
    unpriced_calls: int = Field(0, ge=0)
    price_version: str = ""
    runs_over_ceiling: int = Field(0, ge=0)
    cache_hits: int = Field(0, ge=0)
    saved_tokens: int = Field(0, ge=0)
    saved_usd: float = Field(0.0, ge=0)
    runs_escalated: int = Field(0, ge=0)  # run rows: routed by run.route, the route escalated at least once
    run_cost_usd: float = Field(0.0, ge=0)  # run rows: the completed runs' whole spend (route = the run's route)


class AlertKind(StrEnum):
    UNAUTHORIZED_ACTION = "unauthorized_action"
    REPEATED_TOOL_FAILURES = "repeated_tool_failures"
    RUNAWAY_STEPS = "runaway_steps"
    BUDGET_EXCEEDED = "budget_exceeded"
    COST_SPIKE = "cost_spike"
    SUCCESS_RATE_DROP = "success_rate_drop"
    POLICY_BLOCK_SPIKE = "policy_block_spike"


class Severity(StrEnum):
    PAGE = "page"
    TICKET = "ticket"
    INFO = "info"


class Alert(_Record):
    alert_id: str
    kind: AlertKind
    severity: Severity
    tenant_id: str
    workflow: str
    run_id: str | None = None
    tool: str | None = None
    summary: str
    first_seen: datetime
    last_seen: datetime
    count: int = Field(ge=1)
    rule: str = ""
    fingerprint: str = ""
    status: str = Field("firing", pattern="^(firing|resolved)$")
    value: float | None = None
    threshold: float | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class DeadLetterKind(StrEnum):
    DECODE = "decode"
    VALIDATE = "validate"


class DeadLetter(_Record):
    dead_letter_id: str
    source_topic: str
    source_partition: int
    source_offset: int
    source_key: str | None = None
    error_kind: DeadLetterKind
    reason: str
    raw: bytes  # redacted (warden.ledger_rows.dead_letters.protect) before it is produced or stored
    failed_at: datetime
    service: str
    raw_sealed: bytes | None = None  # the original bytes, encrypted, only with a configured key
    raw_key_id: str | None = None


class ControlKind(StrEnum):
    KILL = "kill"
    READ_ONLY = "read_only"


class RolloutStatus(StrEnum):
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"  # gates pass; the next step waits for a named human
    PAUSED = "paused"  # no automatic judgment until resumed
    ROLLED_BACK = "rolled_back"  # candidate at 0%
    COMPLETED = "completed"  # candidate at 100%

    @property
    def live(self) -> bool:
        """Still judged or waiting: a stop-ship by a candidate run rolls it back."""
        return self in (RolloutStatus.RUNNING, RolloutStatus.AWAITING_APPROVAL, RolloutStatus.PAUSED)


class RolloutAction(StrEnum):
    START = "start"
    PROMOTE = "promote"
    PAUSE = "pause"
    RESUME = "resume"
    ROLLBACK = "rollback"


class RolloutStage(_Record):
    """Where a rollout stands: what the SDK assigns from and what a restarted controller resumes from."""

    rollout_id: str = Field(min_length=1)
    workflow: str = Field(min_length=1)
    baseline: str = Field(min_length=1)
    candidate: str = Field(min_length=1)
    steps: list[int]
    step_index: int = Field(ge=0)
    percent: int = Field(ge=0, le=100)
    status: RolloutStatus
    plan: str  # the RolloutPlan as JSON
    step_started_at: datetime
    seq: int = Field(ge=0)
    approval_call_id: str | None = None
    command_ids: list[str] = Field(default_factory=list)


class RolloutCommand(_Record):
    """An operator's rollout command (CLI, HTTP); the controller applies it once, in topic order."""

    command_id: str = Field(min_length=1)
    action: RolloutAction
    workflow: str = Field(min_length=1)
    rollout_id: str | None = None
    plan: str | None = None
    rationale: str = ""
    eval_run_id: str | None = None  # start: the passing eval of the candidate the start path found (require_eval)


ROLLOUT_SCOPE_PREFIX = "tool:rollout:"  # a scope no switch check reads (read_only never applies to tool:)


class Control(_Record):
    kind: ControlKind
    # tenant:<id>/workflow:<name> (a stop-ship scoped to one tenant) matches tenant:.+ on purpose, so
    # readers from before it see a tenant switch that matches no call instead of a record they refuse.
    scope: str = Field(pattern=r"(?s)^(global|tenant:.+|workflow:.+|tool:.+)$")
    active: bool
    actor: str = Field(min_length=1)
    reason: str
    at: datetime
    rollout: RolloutStage | None = None
    rollout_command: RolloutCommand | None = None

    @model_validator(mode="before")
    @classmethod
    def _union_branches(cls, data: Any) -> Any:
        """fastavro returns a record inside a union as (name, fields): keep the fields."""
        if isinstance(data, dict):
            for name in ("rollout", "rollout_command"):
                if isinstance(data.get(name), tuple):
                    data = {**data, name: data[name][1]}
        return data

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.scope}"

    @property
    def is_switch(self) -> bool:
        """A kill switch or read-only mode, as opposed to a rollout's stage or command."""
        return self.rollout is None and self.rollout_command is None

    def to_avro(self) -> dict[str, Any]:
        record = super().to_avro()
        for name in ("rollout", "rollout_command"):
            nested = getattr(self, name)
            record[name] = None if nested is None else nested.to_avro()
        return record


class ProxyCallKind(StrEnum):
    CALL = "call"
    TOKEN_ISSUED = "token_issued"
    TOKEN_REVOKED = "token_revoked"


class ProxyOutcome(StrEnum):
    ALLOWED = "allowed"
    REFUSED = "refused"
    ERROR = "error"


class ProxyCall(_Record):
    """The tool proxy's account of one request; a refused call is recorded with its reason too."""

    proxy_call_id: str = Field(min_length=1)
    kind: ProxyCallKind
    at: datetime
    call_id: str | None = None
    event_id: str | None = None
    tenant_id: str | None = None
    workflow: str | None = None
    run_id: str | None = None
    agent_id: str | None = None
    tool: str
    action: str
    token_id: str | None = None
    key_id: str | None = None
    outcome: ProxyOutcome
    status_code: int = Field(ge=100, le=599)
    reason_code: str = Field(min_length=1)
    reason: str
    decision: str | None = None
    policy_ids: list[str] = Field(default_factory=list)
    policy_version: str | None = None
    upstream_called: bool
    upstream_status: int | None = None
    latency_ms: float = Field(ge=0)
    upstream_latency_ms: float | None = Field(None, ge=0)
    redactions: int = Field(0, ge=0)
    redaction_kinds: list[str] = Field(default_factory=list)
    actor: str | None = None
    replica: str = ""


class EvalRun(_Record):
    """One finished eval run (warden.evals): summary.json as a record, for the ledger's eval_runs."""

    eval_run_id: str
    started_at: datetime
    completed_at: datetime
    dataset: str
    dataset_sha256: str
    agent: str
    tenant_id: str
    release: str | None = None
    model: str
    prompt_version: str
    tool_schema_hash: str
    policy_bundle_hash: str
    tags: list[str] = Field(default_factory=list)
    workflows: list[str] = Field(default_factory=list)
    items: int = Field(ge=0)
    passed: int = Field(ge=0)
    success_rate: float | None = None
    success_rate_ci95_low: float = Field(ge=0, le=1)
    success_rate_ci95_high: float = Field(ge=0, le=1)
    violation_rate: float | None = None
    cost_per_task_usd: float | None = None
    latency_p95_s: float | None = None
    met_targets: bool
    missed_targets: list[str] = Field(default_factory=list)


class EvalResult(_Record):
    """One item of an eval run: its results.jsonl line as a record, for the ledger's eval_results."""

    result_id: str
    eval_run_id: str
    item_id: str
    workflow: str
    run_id: str
    release: str | None = None
    completed_at: datetime
    passed: bool
    status: str | None = None
    reasons: list[str] = Field(default_factory=list)
    violations: list[str] = Field(default_factory=list)
    cost_usd: float = Field(ge=0)
    steps: int = Field(ge=0)
    latency_s: float | None = None
    tags: list[str] = Field(default_factory=list)


class RolloutDecisionKind(StrEnum):
    START = "start"
    PROMOTE = "promote"
    HOLD = "hold"
    ROLLBACK = "rollback"
    COMPLETE = "complete"
    PAUSE = "pause"
    RESUME = "resume"


class MetricFigure(_Record):
    """One metric of a gate decision: the point value, its interval and how many runs it rests on."""

    value: float | None = None
    low: float | None = None
    high: float | None = None
    runs: int = Field(0, ge=0)
    target: float | None = None
    bound: str = Field("", pattern="^(min|max|)$")
    verdict: str = Field("", pattern="^(pass|fail|inconclusive|)$")


class RolloutDecision(_Record):
    decision_id: str = Field(min_length=1)
    rollout_id: str = Field(min_length=1)
    workflow: str = Field(min_length=1)
    baseline: str
    candidate: str
    step: int = Field(ge=0, le=100)
    next_step: int = Field(ge=0, le=100)
    decision: RolloutDecisionKind
    status: RolloutStatus
    reason: str
    failed_gates: list[str] = Field(default_factory=list)
    metrics: dict[str, MetricFigure] = Field(default_factory=dict)
    baseline_metrics: dict[str, MetricFigure] = Field(default_factory=dict)
    candidate_runs: int = Field(0, ge=0)
    candidate_completed: int = Field(0, ge=0)
    baseline_runs: int = Field(0, ge=0)
    baseline_completed: int = Field(0, ge=0)
    window_start: datetime
    decided_at: datetime
    manual: bool = False
    actor: str | None = None
    rationale: str | None = None
    approval_call_id: str | None = None
    # An operator's command or an approver's decision: when that person gave it (the approvals service's
    # clock), beside decided_at, the event time the controller judges by. None for the controller's own.
    commanded_at: datetime | None = None

    def to_avro(self) -> dict[str, Any]:
        record = super().to_avro()
        record["metrics"] = {k: v.to_avro() for k, v in self.metrics.items()}
        record["baseline_metrics"] = {k: v.to_avro() for k, v in self.baseline_metrics.items()}
        return record
