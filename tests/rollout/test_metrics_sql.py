"""`warden workflow status`'s SQL gives warden.core.metrics' values on the same runs, landed by the sink's code."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from tests.rollout.helpers import T0, deny, event, run
from warden.core import topics
from warden.core.events import AgentEvent, LlmCall, RunCompleted, RunStarted
from warden.core.metrics import RunOutcome, summarize
from warden.core.records import Alert, AlertKind, Severity
from warden.cost.prices import PriceTable
from warden.ledger.client import Ledger
from warden.ledger.readonly import run_readonly
from warden.ledger_rows.tables import TABLES_BY_NAME
from warden.ledger_sink.processor import ChainHeads, Incoming, land
from warden.rollout.metrics_sql import COLUMNS, workflow_metrics_sql


def scenario() -> tuple[list[AgentEvent], list[object]]:
    rng = random.Random(11)
    events: list[AgentEvent] = []
    others: list[object] = []
    for i in range(120):
        release = "v4" if i % 3 == 0 else "v3"
        start = T0 + timedelta(seconds=i * 7)
        status = rng.choice(["succeeded", "succeeded", "succeeded", "failed", "escalated"])
        one = run(f"m{i}", release, start, cost=round(rng.uniform(0.01, 0.2), 4), status=status,
                  duration_s=rng.uniform(1, 40))
        if i % 10 == 0:  # still running: no run_completed
            one = one[:2]
        if i % 7 == 0:  # an llm_call without cost_usd, priced by the price table
            one.append(event("llm_call", f"m{i}", start + timedelta(seconds=0.5),
                             {"model": "gpt-4o-mini", "provider": "openai", "input_tokens": 1200,
                              "output_tokens": 300, "cached_tokens": 200, "latency_ms": 50.0, "cost_usd": None},
                             step_no=4))
        if i % 5 == 0:
            others.append(deny(f"m{i}", start + timedelta(seconds=1)))
        if i % 11 == 0:
            others.append(Alert(alert_id=f"a{i}", kind=AlertKind.RUNAWAY_STEPS, severity=Severity.PAGE,
                                tenant_id="acme", workflow="refund_ticket", run_id=f"m{i}", summary="x",
                                first_seen=start, last_seen=start, count=1))
        events += one
    # another workflow, and a run started before the window: neither is counted for refund_ticket
    events += run("other-1", "v1", T0, workflow="export_report") + run("early", "v3", T0 - timedelta(hours=2))
    return events, others


def outcomes(events: list[AgentEvent], others: list[object], prices: PriceTable) -> dict[str, list[RunOutcome]]:
    runs: dict[str, RunOutcome] = {}
    for e in events:
        if isinstance(e.body, RunStarted) and e.workflow == "refund_ticket" and e.occurred_at >= T0:
            runs[e.run_id] = RunOutcome(e.run_id, e.tenant_id, e.workflow, e.body.release_name, e.occurred_at)
    for e in events:
        outcome = runs.get(e.run_id)
        if outcome is None:
            continue
        if isinstance(e.body, LlmCall):
            outcome.spend_usd += prices.price(e.body, e.occurred_at).cost_usd
        elif isinstance(e.body, RunCompleted):
            outcome.completed_at, outcome.status = e.occurred_at, e.body.status
    for o in others:
        outcome = runs.get(o.run_id)  # type: ignore[attr-defined]
        if outcome is not None:
            if isinstance(o, Alert):
                outcome.pages += 1
            else:
                outcome.denials += 1
    by_release: dict[str, list[RunOutcome]] = {}
    for outcome in runs.values():
        by_release.setdefault(outcome.release or "", []).append(outcome)
    return by_release


def test_sql_equals_the_one_definition_on_the_same_runs(ledger: Ledger) -> None:
    events, others = scenario()
    batch = [Incoming(topics.AGENT_EVENTS, 0, n, e.run_id, e) for n, e in enumerate(events)]
    batch += [Incoming(topics.POLICY_DECISIONS if not isinstance(o, Alert) else topics.ALERTS, 0, n,
                       o.run_id, o) for n, o in enumerate(others)]  # type: ignore[attr-defined, arg-type]
    _, landed = land(ChainHeads(), batch, set())
    for table, columns in landed.columns.items():
        ledger.insert(table, TABLES_BY_NAME[table].insert_columns, columns)
    prices = PriceTable.load()
    sql = workflow_metrics_sql(prices, T0, T0 + timedelta(hours=1), "refund_ticket", ledger.database)
    expected = {release: summarize(runs) for release, runs in outcomes(events, others, prices).items()}
    # Both ways the SQL runs: the ledger's own client, and the read-only query session `warden workflow status`,
    # the endpoint and the dashboards use (there a LEFT JOIN's SETTINGS were not applied, and runs still going
    # counted as completed on a 1970 default: a README walk saw 6/6 completed for 3 of 6).
    _, readonly = run_readonly(ledger, sql)
    for found in (ledger.rows(sql), readonly):
        _same(found, expected)


def _same(found: Any, expected: dict[str, Any]) -> None:
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in found]
    assert [r["release"] for r in rows] == sorted(expected) == ["v3", "v4"]
    for row in rows:
        metrics = expected[row["release"]]
        assert metrics.violating_runs > 0 and metrics.paged_runs > 0 and metrics.completed < metrics.runs
        for name in COLUMNS[2:]:
            value = getattr(metrics, name)
            assert row[name] == pytest.approx(value, rel=1e-9, abs=1e-12), (row["release"], name)
