"""A plan's `require_eval`: before its first step, the candidate must have passed an eval (issue 12).

Checked where a rollout is started (the CLI and the HTTP start, both through `Rollouts.send`), against
the ledger's eval_runs, which `warden eval run --emit` lands: the most recent eval run of the
candidate release over the plan's workflow, completed within `eval_max_age_days`, must have met the
workflow's targets. The most recent one, not any one: a later eval that missed its targets says the
release is not ready, whatever an earlier one said. The start command carries the eval_run_id found,
and the controller refuses a start of such a plan without one (it cannot read the ledger: its step
stays pure, and replay is given the same id), so the check fails closed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from warden.core.errors import WardenError
from warden.rollout.plan import RolloutPlan


class EvalMissing(WardenError):
    """No passing eval of the candidate: the start is refused, and this says why."""


@dataclass(frozen=True)
class EvalEvidence:
    eval_run_id: str
    completed_at: datetime
    items: int
    success_rate: float | None
    dataset: str

    def describe(self) -> str:
        rate = "?" if self.success_rate is None else f"{self.success_rate:.1%}"
        return (f"eval {self.eval_run_id} of {self.dataset} ({self.items} items, success {rate}, completed "
                f"{self.completed_at:%Y-%m-%d %H:%M} UTC) met its targets")


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def latest_evals_sql(plan: RolloutPlan, since: datetime, database: str = "warden") -> str:
    return (f"SELECT eval_run_id, completed_at, met_targets, arrayStringConcat(missed_targets, ', ') AS missed, items, "
            f"success_rate, dataset FROM {database}.eval_runs WHERE release = {_quoted(plan.candidate)} "
            f"AND has(workflows, {_quoted(plan.workflow)}) "
            f"AND completed_at >= toDateTime64('{since:%Y-%m-%d %H:%M:%S}', 3, 'UTC') "
            "ORDER BY completed_at DESC, eval_run_id LIMIT 1")


Query = Callable[[str], tuple[list[str], list[list[Any]]]]


def require_passing_eval(query: Query, plan: RolloutPlan, now: datetime, database: str = "warden") -> EvalEvidence:
    """The candidate's passing eval, or EvalMissing naming what was found instead."""
    since = now - timedelta(days=plan.eval_max_age_days)
    what = f"release {plan.candidate} of {plan.workflow}"
    try:
        _, rows = query(latest_evals_sql(plan, since, database))
    except WardenError as exc:  # fail closed: no ledger, no evidence
        raise EvalMissing(f"the plan requires a passing eval of {what}, and the ledger's eval_runs could not be "
                          f"read: {exc}") from exc
    if not rows:
        raise EvalMissing(f"the plan requires a passing eval of {what}: the ledger's eval_runs has none completed "
                          f"in the last {plan.eval_max_age_days:g} days (eval_max_age_days); run `warden eval run "
                          f"DATASET --agent MODULE:FUNC --release {plan.candidate} --emit` first")
    eval_run_id, completed_at, met, missed, items, success_rate, dataset = rows[0]
    at = completed_at if isinstance(completed_at, datetime) else datetime.fromisoformat(str(completed_at))
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if not met:
        raise EvalMissing(f"the plan requires a passing eval of {what}: its latest, {eval_run_id} (completed "
                          f"{at:%Y-%m-%d %H:%M} UTC), missed {missed or 'its targets'}")
    return EvalEvidence(str(eval_run_id), at, int(items), None if success_rate is None else float(success_rate),
                        str(dataset))
