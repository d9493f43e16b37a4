"""An eval run as ledger records: EvalRun (summary.json) and one EvalResult per item (results.jsonl).

`warden eval run --emit` publishes them on eval.runs and eval.results, keyed by eval_run_id, and the
ledger-sink lands them in eval_runs and eval_results like every other record: hash-chained (one
chain per eval run), deduplicated by record id, redacted. Only these records are published, never
the eval's agent events: the live evaluator would act on those (see warden.evals.runner).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from warden.core import topics
from warden.core.records import EvalResult, EvalRun
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.evals.summary import ItemResult
from warden.kafka import clients

_RESULTS = uuid.UUID("9a3d6e21-7c45-4b8f-a0e2-5f1b8c7d3e64")


def run_record(summary: dict[str, Any]) -> EvalRun:
    fingerprint = summary["fingerprint"]
    low, high = summary["success_rate_ci95"]
    return EvalRun(
        eval_run_id=summary["eval_run_id"], started_at=datetime.fromisoformat(summary["started_at"]),
        completed_at=datetime.fromisoformat(summary["completed_at"]), dataset=summary["dataset"],
        dataset_sha256=summary["dataset_sha256"], agent=summary["agent"], tenant_id=summary["tenant_id"],
        release=fingerprint.get("release"), model=fingerprint["model"], prompt_version=fingerprint["prompt_version"],
        tool_schema_hash=fingerprint["tool_schema_hash"], policy_bundle_hash=fingerprint["policy_bundle_hash"],
        tags=list(summary.get("tags", [])), workflows=sorted(summary.get("workflows", {})), items=summary["items"],
        passed=summary["passed"], success_rate=summary["success_rate"], success_rate_ci95_low=low,
        success_rate_ci95_high=high, violation_rate=summary["violation_rate"],
        cost_per_task_usd=summary["cost_per_task_usd"], latency_p95_s=summary["latency_p95_s"],
        met_targets=summary["met_targets"], missed_targets=list(summary["missed_targets"]))


def result_record(eval_run_id: str, release: str | None, result: ItemResult, fallback_at: datetime) -> EvalResult:
    return EvalResult(
        result_id=str(uuid.uuid5(_RESULTS, f"{eval_run_id}/{result.id}")), eval_run_id=eval_run_id,
        item_id=result.id, workflow=result.workflow, run_id=result.run_id, release=release,
        completed_at=result.completed_at or fallback_at, passed=result.passed,
        status=result.status.value if result.status is not None else None, reasons=list(result.reasons),
        violations=[json.dumps(v, sort_keys=True, ensure_ascii=False) for v in result.violations],
        cost_usd=max(0.0, result.cost_usd), steps=result.steps, latency_s=result.latency_s, tags=list(result.tags))


def records_of(summary: dict[str, Any], results: list[ItemResult]) -> tuple[EvalRun, list[EvalResult]]:
    run = run_record(summary)
    return run, [result_record(run.eval_run_id, run.release, r, run.completed_at) for r in results]


def publish(settings: WardenSettings, run: EvalRun, results: list[EvalResult], timeout_s: float = 15.0) -> int:
    """Produce the run's results, then the run itself (a reader that sees the run sees its results);
    raises DeliveryError unless the broker acknowledged every record."""
    wire = wire_for(settings)
    producer = clients.producer(settings, **{"message.timeout.ms": int(timeout_s * 1000)})
    key = run.eval_run_id.encode()
    for result in results:
        producer.produce(settings.topic(topics.EVAL_RESULTS), wire.encode(result), key=key)
        producer.poll(0)
    producer.produce(settings.topic(topics.EVAL_RUNS), wire.encode(run), key=key)
    producer.flush_or_raise(timeout_s + 5, f"eval run {run.eval_run_id}'s {len(results) + 1} records")
    return len(results) + 1
