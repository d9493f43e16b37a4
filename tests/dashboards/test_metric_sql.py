"""One definition per metric: the dashboards' SQL and warden.core.metrics give the same figures on the
same runs (a small ledger landed as the ledger-sink lands records, real ClickHouse through chDB)."""

from __future__ import annotations

import math
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from tests.dashboards.helpers import event, fill, run_sql
from warden.core.events import LlmCall, RunStatus
from warden.core.metrics import METRICS, RunOutcome, WorkflowMetrics, summarize
from warden.core.records import Alert, AlertKind, Decision, PolicyDecision, Severity
from warden.cost.prices import PriceTable
from warden.dashboards.macros import TimeRange
from warden.dashboards.metric_sql import metrics_sql
from warden.ledger.client import Ledger

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
WHEN = TimeRange(T0, T0 + timedelta(hours=2))
PRICES = PriceTable.load()
MODELS = ("gpt-4o-mini", "gpt-4o", "no-such-model")  # the last is unpriced: it adds nothing to spend


def ledger_runs(seed: int = 7) -> tuple[list[BaseModel], list[RunOutcome]]:
    """Runs of every kind: failed, unfinished, denied, paged, unpriced, started before the range."""
    rng = random.Random(seed)
    records: list[BaseModel] = []
    judged: list[RunOutcome] = []
    for n in range(80):
        run_id = f"run-{n}"
        started = T0 + timedelta(seconds=rng.randint(-1800, 7000), milliseconds=rng.randint(0, 999))
        tenant, workflow = rng.choice(("acme", "globex")), rng.choice(("refund_ticket", "export_report"))
        release = rng.choice(("v1", "v2", None))
        at = dict(tenant=tenant, workflow=workflow)
        start = event("run_started", run_id, started, 1, **at, workflow_version="v1", prompt_version="p1",
                      model="gpt-4o-mini", release=release)
        records.append(start)
        outcome = RunOutcome(run_id, tenant, workflow, release or "v1", started_at=start.occurred_at)
        for step in range(2, 2 + rng.randint(0, 3)):
            model = rng.choice(MODELS)
            reported = rng.random() < 0.2
            body = LlmCall(model=model, provider="p", input_tokens=rng.randint(10, 5000),
                           output_tokens=rng.randint(1, 800), cached_tokens=rng.randint(0, 50), latency_ms=5.0,
                           cost_usd=round(rng.random() / 50, 6) if reported else None)
            moment = started + timedelta(seconds=step)
            records.append(event("llm_call", run_id, moment, step, **at, **body.model_dump()))
            outcome.spend_usd += PRICES.price(body, moment).cost_usd
        if rng.random() < 0.3:
            decision = rng.choice((Decision.DENY, Decision.DENY, Decision.ALLOW))
            records.append(PolicyDecision(
                decision_id=str(uuid.uuid4()), event_id=str(uuid.uuid4()), call_id=f"c-{n}", run_id=run_id,
                tenant_id=tenant, decided_at=started + timedelta(seconds=1), decision=decision, policy_ids=["x"],
                reason="r", policy_version="b1"))
            outcome.denials = int(decision == Decision.DENY)
        if rng.random() < 0.15:
            severity = rng.choice((Severity.PAGE, Severity.TICKET))
            for count in (1, 2):  # an alert lands once per count: one run, one page
                records.append(Alert(
                    alert_id=f"a-{n}", kind=AlertKind.RUNAWAY_STEPS, severity=severity, tenant_id=tenant,
                    workflow=workflow, run_id=run_id, summary="s", first_seen=started, last_seen=started,
                    count=count))
            outcome.pages = int(severity == Severity.PAGE)
        if rng.random() < 0.85:
            status = rng.choice((RunStatus.SUCCEEDED, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ESCALATED))
            ended = started + timedelta(seconds=rng.uniform(0.5, 40))
            end = event("run_completed", run_id, ended, 9, **at, status=status.value)
            records.append(end)
            outcome.status, outcome.completed_at = status, end.occurred_at
        if WHEN.start <= started <= WHEN.end:
            judged.append(outcome)
    return records, judged


def close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9))


def same(row: dict[str, object], expected: WorkflowMetrics) -> list[str]:
    wrong = [f"runs {row['runs']} != {expected.runs}"] if row["runs"] != expected.runs else []
    wrong += [f"completed {row['completed']} != {expected.completed}"] if row["completed"] != expected.completed \
        else []
    for metric in METRICS:
        value = row[metric]
        if not close(None if value is None else float(value), expected.value(metric)):  # type: ignore[arg-type]
            wrong.append(f"{metric}: SQL {value} != core.metrics {expected.value(metric)}")
    return wrong


@pytest.fixture(scope="module")
def small(chdb_url: str) -> object:
    db = f"w_{uuid.uuid4().hex[:10]}"
    from warden.ledger.migrations import migrate

    client = Ledger(chdb_url, database=db)
    migrate(client, {"*": 7})
    records, judged = ledger_runs()
    fill(client, records)
    yield client, judged
    client.command(f"DROP DATABASE IF EXISTS {db}")


def test_the_sql_gives_core_metrics_figures_over_all_runs(small: tuple[Ledger, list[RunOutcome]]) -> None:
    ledger, judged = small
    assert 40 < len(judged) < 80  # some runs started before the range and are not judged
    _, rows = run_sql(ledger, metrics_sql(PRICES, ["runs", "completed", *METRICS]), WHEN)
    expected = summarize(judged)
    assert expected.latency_p95_s and expected.spend_usd > 0 and expected.paged_runs and expected.violating_runs
    assert same(rows[0], expected) == []


def test_per_workflow_and_release_and_for_one_tenant(small: tuple[Ledger, list[RunOutcome]]) -> None:
    ledger, judged = small
    sql = metrics_sql(PRICES, ["runs", "completed", *METRICS], [("workflow", "workflow"), ("release", "release")])
    _, rows = run_sql(ledger, sql, WHEN, {"tenant": ["globex"]})
    groups: dict[tuple[str, str], list[RunOutcome]] = defaultdict(list)
    for run in judged:
        if run.tenant_id == "globex":
            groups[(run.workflow, str(run.release))].append(run)
    assert {(r["workflow"], r["release"]) for r in rows} == set(groups)
    for row in rows:
        assert same(row, summarize(groups[(str(row["workflow"]), str(row["release"]))])) == [], row


def test_no_runs_is_no_evidence_not_zero(small: tuple[Ledger, list[RunOutcome]]) -> None:
    ledger, _ = small
    empty = TimeRange(T0 - timedelta(days=30), T0 - timedelta(days=29))
    _, rows = run_sql(ledger, metrics_sql(PRICES, list(METRICS)), empty)
    assert rows == [{m: None for m in METRICS}]
