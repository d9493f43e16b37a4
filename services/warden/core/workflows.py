"""The workflow contract of checklist §1: what a workflow is for, and the targets it is judged on.

`policies/workflows.toml` already holds each workflow's tool inventory and stop-ship policies (read by
the Cedar bundle, warden.policy.bundle). The same file gives, per workflow, a description of its start
and end state and its targets; this module reads those parts only, with no Cedar, so the SDK, the
rollout-controller, the eval runner and the report read one contract without loading policies.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from warden.core.errors import ConfigError
from warden.core.tomlfile import read_toml

DEFAULT_WORKFLOWS_FILE = Path(__file__).resolve().parents[3] / "policies" / "workflows.toml"


class Fallback(StrEnum):
    """What an agent does instead when its workflow is switched off (checklist §6)."""

    HUMAN_QUEUE = "human_queue"
    RULES = "rules"
    READ_ONLY = "read_only"


class StopShipScope(StrEnum):
    """How far a stop-ship condition's automatic kill switch reaches outside a rollout."""

    WORKFLOW = "workflow"  # every tenant's runs of the workflow (the behaviour before round 2)
    TENANT_WORKFLOW = "tenant_workflow"  # only the tenant whose agent tripped it


class Targets(BaseModel):
    """Checklist §1's measurable targets; a missing one is not judged. Definitions: warden.core.metrics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_success_rate_min: float | None = Field(None, ge=0, le=1)
    violation_rate_max: float | None = Field(None, ge=0, le=1)
    cost_per_task_usd_max: float | None = Field(None, ge=0)
    latency_p95_s_max: float | None = Field(None, gt=0)
    high_severity_rate_max: float | None = Field(None, ge=0, le=1)

    def merged(self, override: Targets) -> Targets:
        """`override`'s targets where it sets them, these elsewhere (a rollout's gates over the workflow's)."""
        return Targets(**{**self.model_dump(), **override.model_dump(exclude_none=True)})


class WorkflowContract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")  # tools, stop_ship...: the Cedar bundle's keys

    name: str
    description: str = ""
    start: str = ""  # the state the workflow starts from ("a customer ticket asking for a refund")
    end: str = ""  # the state it must leave ("refund issued or declined, ticket closed with a note")
    targets: Targets = Targets()
    fallback: Fallback = Fallback.HUMAN_QUEUE
    stop_ship_scope: StopShipScope = StopShipScope.WORKFLOW
    cache: bool = False  # the SDK cache may keep this workflow's answers and embeddings (warden.sdk.cache)
    cache_ttl_s: float = Field(3600.0, gt=0)  # how long a cached answer is served, from when it was made


def load_contracts(path: Path = DEFAULT_WORKFLOWS_FILE) -> dict[str, WorkflowContract]:
    """Every workflow of the file, its own keys over `[defaults]`'s; a bad key names the workflow and the key."""
    document = read_toml(path, "workflows file").document
    defaults: dict[str, Any] = {k: v for k, v in document.get("defaults", {}).items()
                                if k in WorkflowContract.model_fields}
    contracts: dict[str, WorkflowContract] = {}
    for name, spec in document.get("workflows", {}).items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{path}: [workflows.{name}] must be a table, got {type(spec).__name__}")
        merged = {**defaults, **spec, "name": name}
        merged["targets"] = {**defaults.get("targets", {}), **spec.get("targets", {})}
        try:
            contracts[name] = WorkflowContract.model_validate(merged)
        except pydantic.ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r:.60})"
                                 for e in exc.errors(include_url=False))
            raise ConfigError(f"{path}: workflow {name!r} is not a valid contract: {problems}") from exc
    return contracts


def contract_for(contracts: dict[str, WorkflowContract], workflow: str) -> WorkflowContract:
    """A workflow the file does not name gets no targets (nothing is judged) and the default fallback."""
    return contracts.get(workflow) or WorkflowContract(name=workflow)
