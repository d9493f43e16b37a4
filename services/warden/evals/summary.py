"""The results files of an eval run: DIR/results.jsonl (one line per item) and DIR/summary.json.

results.jsonl, per item, in dataset order:
    id, passed, reasons [each failed expectation], violations [{tool, code, reason, decision, policy_ids,
    call_id}], cost_usd, steps, latency_s — plus workflow, tags, status (what the agent completed the run
    with), run_id, state_change (the world's diff that was scored), unpriced_llm_calls, started_at and
    completed_at (the run's event times).
summary.json:
    items, passed, success_rate, success_rate_ci95 [low, high], violation_rate, cost_per_task_usd,
    latency_p95_s, fingerprint {model, prompt_version, tool_schema_hash, policy_bundle_hash, release},
    the same metrics per workflow with each target of the workflow checked, met_targets and
    missed_targets (the workflows below their task_success_rate_min: the exit code), and the run's
    identity (eval_run_id, dataset, dataset_sha256, agent, tags, started_at, completed_at).

The metrics are warden.core.metrics' definitions over the item runs, where an item's run counts as
succeeded when the item passed (the world's diff and the expectations decide, not the agent's own
status), and a run with at least one violation counts as violating.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from warden.core.events import RunStatus
from warden.core.metrics import RunOutcome, WorkflowMetrics, check_targets, summarize
from warden.core.stats import wilson
from warden.core.workflows import WorkflowContract, contract_for

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
EVENTS_FILE = "events.jsonl"


class ItemResult(BaseModel):
    """One line of results.jsonl."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    passed: bool
    reasons: list[str]
    violations: list[dict[str, Any]]
    cost_usd: float
    steps: int
    latency_s: float | None
    workflow: str
    tags: list[str] = Field(default_factory=list)
    status: RunStatus | None = None
    run_id: str = ""
    state_change: dict[str, Any] = Field(default_factory=dict)
    unpriced_llm_calls: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None

    def outcome(self, release: str | None) -> RunOutcome:
        """The item's run as the shared metrics see it (an eval's verdict is the run's success)."""
        return RunOutcome(run_id=self.run_id, workflow=self.workflow, release=release,
                          started_at=self.started_at, completed_at=self.completed_at,
                          status=RunStatus.SUCCEEDED if self.passed else RunStatus.FAILED,
                          spend_usd=self.cost_usd, denials=len(self.violations))


class Fingerprint(BaseModel):
    """What a result depends on besides the dataset: a change of any part is a reason to re-run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    prompt_version: str
    tool_schema_hash: str
    policy_bundle_hash: str
    release: str | None = None


def _metrics(metrics: WorkflowMetrics, passed: int, items: int) -> dict[str, Any]:
    return {
        "items": items, "passed": passed,
        "success_rate": metrics.task_success_rate,
        "success_rate_ci95": list(wilson(passed, items)),
        "violation_rate": metrics.violation_rate,
        "cost_per_task_usd": metrics.cost_per_task_usd,
        "latency_p95_s": metrics.latency_p95_s,
    }


def summarize_results(results: list[ItemResult], contracts: dict[str, WorkflowContract],
                      fingerprint: Fingerprint, identity: dict[str, Any]) -> dict[str, Any]:
    release = fingerprint.release
    by_workflow: dict[str, list[ItemResult]] = defaultdict(list)
    for result in results:
        by_workflow[result.workflow].append(result)
    workflows: dict[str, Any] = {}
    missed: list[str] = []
    for name in sorted(by_workflow):
        group = by_workflow[name]
        metrics = summarize(r.outcome(release) for r in group)
        checks = check_targets(metrics, contract_for(contracts, name).targets)
        workflows[name] = {**_metrics(metrics, sum(r.passed for r in group), len(group)),
                           "targets": [{"metric": c.metric, "value": c.value, "target": c.target,
                                        "bound": c.bound, "met": c.met} for c in checks]}
        for check in checks:
            if check.metric == "task_success_rate" and check.met is not True:
                missed.append(f"{name}: task_success_rate {check.value} < task_success_rate_min {check.target}")
    overall = summarize(r.outcome(release) for r in results)
    return {
        **identity,
        **_metrics(overall, sum(r.passed for r in results), len(results)),
        "fingerprint": fingerprint.model_dump(),
        "workflows": workflows,
        "met_targets": not missed,
        "missed_targets": missed,
    }


def write_results(out_dir: Path, results: list[ItemResult], summary: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / RESULTS_FILE).open("w", encoding="utf-8") as handle:
        for result in results:
            handle.write(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, sort_keys=True) + "\n")
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n",
                                        encoding="utf-8")


def read_results(out_dir: Path) -> tuple[list[ItemResult], dict[str, Any]]:
    """Back from a results directory (compare, the ledger landing of a finished run)."""
    lines = (out_dir / RESULTS_FILE).read_text(encoding="utf-8").splitlines()
    results = [ItemResult.model_validate_json(line) for line in lines if line.strip()]
    return results, json.loads((out_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
