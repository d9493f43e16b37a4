"""The workflow contract of checklist §1: what a workflow is for, and the targets it is judged on.

`policies/workflows.toml` holds each workflow's tool inventory, stop-ship policies and read-only tools
(`load_workflows`, which the Cedar bundle, warden.policy.bundle, builds on), and per workflow a
description of its start and end state and its targets (`load_contracts`). No Cedar here, so the SDK,
the rollout-controller, the eval runner and the report read one contract without loading policies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from warden.core.errors import ConfigError
from warden.core.shipped import POLICIES
from warden.core.tomlfile import read_toml

DEFAULT_WORKFLOWS_FILE = POLICIES / "workflows.toml"


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


@dataclass(frozen=True)
class Workflow:
    """A workflow's tools and switches as policies/workflows.toml gives them (the Cedar bundle checks calls
    against them; the SDK reads the read-only tools for is_enabled, without Cedar)."""

    name: str
    tools: frozenset[str]
    stop_ship: frozenset[str]
    read_only_tools: frozenset[str]
    stop_ship_scope: StopShipScope = StopShipScope.WORKFLOW  # how far its automatic kill switch reaches


def workflow_or_default(defaults: Workflow, workflows: dict[str, Workflow], name: str) -> Workflow:
    """A workflow the file does not name has no tools and the defaults' stop-ship and read-only tools."""
    return workflows.get(name) or Workflow(name, frozenset(), defaults.stop_ship, defaults.read_only_tools,
                                           defaults.stop_ship_scope)


def load_workflows(path: Path = DEFAULT_WORKFLOWS_FILE,
                   error: type[ConfigError] = ConfigError) -> tuple[Workflow, dict[str, Workflow]]:
    """The `[defaults]` and each workflow's tool inventory, stop-ship and read-only tools; ``error`` is the
    kind of ConfigError a bad file raises (the Cedar bundle raises its own)."""
    data = read_toml(path, "workflows file", error).document
    base = data.get("defaults", {})
    defaults = Workflow("*", frozenset(), frozenset(base.get("stop_ship", [])),
                        frozenset(base.get("read_only_tools", [])), _scope(path, "defaults", base, error))
    flows = {}
    for name, spec in data.get("workflows", {}).items():
        if not isinstance(spec.get("tools"), list) or not spec["tools"]:
            raise error(f"{path}: workflow {name!r} needs a non-empty list `tools`")
        flows[name] = Workflow(name, frozenset(spec["tools"]),
                               frozenset(spec.get("stop_ship", defaults.stop_ship)),
                               frozenset(spec.get("read_only_tools", defaults.read_only_tools)),
                               _scope(path, name, spec, error, defaults.stop_ship_scope))
    return defaults, flows


def _scope(path: Path, name: str, spec: dict[str, object], error: type[ConfigError],
           default: StopShipScope = StopShipScope.WORKFLOW) -> StopShipScope:
    value = spec.get("stop_ship_scope", default)
    try:
        return StopShipScope(str(value))
    except ValueError:
        raise error(f"{path}: workflow {name!r}: stop_ship_scope must be one of "
                    f"{', '.join(s.value for s in StopShipScope)}, got {value!r}") from None
