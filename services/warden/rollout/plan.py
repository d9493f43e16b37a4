"""A rollout plan: `[rollout]` and `[rollout.gates]` of a TOML file, or `warden rollout start` options.

Gates a plan leaves out come from the workflow's targets (policies/workflows.toml), resolved when the
rollout starts: the plan the controller keeps (and writes on the control topic) is self-contained, so
a later edit of workflows.toml does not move the goalposts of a rollout already under way.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from warden.core.errors import ConfigError
from warden.core.events import utc_millis
from warden.core.jsontext import text_problem
from warden.core.tomlfile import read_toml
from warden.core.workflows import Targets, WorkflowContract


class Gates(Targets):
    """The workflow's targets plus the comparisons with the baseline running at the same time."""

    success_drop_vs_baseline_max: float | None = Field(None, ge=0, le=1)  # baseline rate - candidate rate
    cost_increase_vs_baseline_max: float | None = Field(None, ge=0)  # candidate cost / baseline cost - 1

    def over(self, targets: Targets) -> Gates:
        """These gates where set, the workflow's targets elsewhere."""
        return Gates(**{**targets.model_dump(), **self.model_dump(exclude_none=True)})


# Event-time spans a plan may ask for. A step's cut-offs are datetimes: a hold past datetime's range (or inf,
# which the plan's JSON on the control topic cannot even carry) made the controller raise on the start, and a
# judging interval below timedelta's microsecond (1e-9 minutes) is zero, so the controller judged the same
# cut-off forever. A year bounds any real hold; one second bounds how often a step is judged.
MAX_SPAN_MINUTES = 366 * 24 * 60
MAX_MIN_RUNS = 1_000_000_000  # completed runs a step may wait for
MIN_JUDGE_EVERY_MINUTES = 1 / 60


class RolloutPlan(BaseModel):
    # strict numbers: a careless `min_runs = true` or `steps = ["5"]` is refused by name, not read as 1 or 5;
    # finite ones: `hold_minutes = inf` is refused here rather than on the controller
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    workflow: str = Field(min_length=1)
    baseline: str = Field(min_length=1)
    candidate: str = Field(min_length=1)
    steps: tuple[StrictInt, ...] = (5, 25, 100)
    # a billion completed runs at one step: more is a typo (1e20 was accepted and held the rollout forever)
    min_runs: StrictInt = Field(200, ge=1, le=MAX_MIN_RUNS,
                                description="completed candidate runs at a step before it is judged")
    hold_minutes: float = Field(30.0, ge=0, le=MAX_SPAN_MINUTES, strict=True,
                                description="event time spent at a step before it is judged")
    judge_every_minutes: float = Field(1.0, ge=MIN_JUDGE_EVERY_MINUTES, le=MAX_SPAN_MINUTES, strict=True,
                                       description="event time between judgments once held")
    approval_after_step: StrictInt = Field(25, ge=0, le=100,
                                           description="promotion from this step (percent) or higher waits for a human")
    confidence: float = Field(0.95, gt=0.5, lt=1, strict=True,
                              description="family-wise, over the gates judged (Bonferroni)")
    max_hold_minutes: float | None = Field(None, gt=0, le=MAX_SPAN_MINUTES, strict=True,
                                           description="still inconclusive this long after a step began: rollback")
    start_at: datetime | None = Field(None, description="event time the first step starts (default: when started)")
    require_eval: bool = Field(False, description="start only with a passing eval of the candidate in eval_runs")
    eval_max_age_days: float = Field(7.0, gt=0, le=MAX_SPAN_MINUTES / 1440, strict=True,
                                     description="how recent that eval must be (require_eval)")
    gates: Gates = Gates()

    @field_validator("workflow", "baseline", "candidate")
    @classmethod
    def _name(cls, value: str) -> str:
        """A name a run can carry: events refuse NUL and lone surrogates, and a release "v4 " matches no run
        started as "v4", so the rollout would judge nothing and say only that it waits for runs."""
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(f"{problem}, got {value!r:.80}")
        if value != value.strip():
            raise ValueError(f"has leading or trailing whitespace, got {value!r:.80}")
        return value

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: tuple[int, ...]) -> tuple[int, ...]:
        if not steps:
            raise ValueError("steps must list at least one percentage, e.g. [5, 25, 100]")
        if any(not 0 < p <= 100 for p in steps):
            raise ValueError(f"every step must be a percentage in 1..100, got {list(steps)}")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"steps must increase, got {list(steps)}")
        if steps[-1] != 100:
            raise ValueError(f"the last step must be 100 (the rollout completes there), got {list(steps)}")
        return steps

    @field_validator("start_at")
    @classmethod
    def _start_at(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc_millis(value)

    @model_validator(mode="after")
    def _distinct(self) -> RolloutPlan:
        if self.baseline == self.candidate:
            raise ValueError(f"candidate and baseline must differ, both are {self.candidate!r}")
        return self

    def resolved(self, contract: WorkflowContract) -> RolloutPlan:
        """Gates the plan leaves out taken from the workflow's targets. A plan left with no gate at all is
        refused: the controller would promote it on min_runs alone, judging nothing (fail closed)."""
        if contract.name != self.workflow:
            raise ConfigError(f"plan is for workflow {self.workflow!r}, not {contract.name!r}")
        gates = self.gates.over(contract.targets)
        if not gates.model_dump(exclude_none=True):
            raise ConfigError(f"rollout of {self.workflow!r} has no gate: the workflow sets no targets and the plan "
                              f"no [rollout.gates]; expected at least one of {', '.join(Gates.model_fields)}")
        return self.model_copy(update={"gates": gates})

    def to_json(self) -> str:
        """Without the eval keys when no eval is required: a controller from before them reads the plan."""
        return self.model_dump_json(exclude=None if self.require_eval else {"require_eval", "eval_max_age_days"})

    @classmethod
    def from_json(cls, text: str) -> RolloutPlan:
        try:
            return cls.model_validate_json(text)
        except pydantic.ValidationError as exc:
            raise ConfigError(f"rollout plan JSON is not a valid plan: {_problems(exc, '')}") from exc


def resolve(plan: RolloutPlan, contracts: dict[str, WorkflowContract], source: str = "policies/workflows.toml") \
        -> RolloutPlan:
    """`plan.resolved` against the workflow's contract, refusing a workflow the file does not name: a typo
    (`refund_tickt`) would otherwise start a rollout of a workflow no run has, with none of its targets."""
    contract = contracts.get(plan.workflow)
    if contract is None:
        raise ConfigError(f"workflow {plan.workflow!r:.80} is not in {source}; expected one of "
                          f"{', '.join(sorted(contracts)) or '(none)'}")
    return plan.resolved(contract)


def _problems(exc: pydantic.ValidationError, prefix: str) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        shown = "" if ", got " in message else f" (got {err.get('input')!r:.60})"
        parts.append(f"{where or 'rollout'}: {message}{shown}")
    return "; ".join(parts)


def parse_plan(document: dict[str, Any], source: str) -> RolloutPlan:
    """A plan from a TOML document's `[rollout]` table; a bad key is named with what was expected."""
    extra = sorted(set(document) - {"rollout"})
    if extra:
        raise ConfigError(f"{source}: unknown top-level key(s) {extra}; a plan has only a [rollout] table")
    table = document.get("rollout")
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: expected a [rollout] table with workflow, baseline, candidate, steps")
    try:
        return RolloutPlan.model_validate(table)
    except pydantic.ValidationError as exc:
        raise ConfigError(f"{source}: {_problems(exc, 'rollout')}") from exc


def load_plan(path: Path) -> RolloutPlan:
    return parse_plan(read_toml(path, "rollout plan").document, str(path))


def plan_document(plan: RolloutPlan) -> dict[str, Any]:
    """The plan as JSON-ready data (what `warden rollout status` shows)."""
    data: dict[str, Any] = json.loads(plan.to_json())
    return data
