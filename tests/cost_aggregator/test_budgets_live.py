"""A hard budget, live: the aggregator sets the tenant's kill switch on the control topic and the
running policy-evaluator denies that tenant's later calls; the soft limit raised a ticket first."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from tests.ledger_sink.helpers import wait_for
from tests.policy_evaluator.test_service import Decisions
from tests.running import in_thread
from warden.core import topics as names
from warden.core.records import Alert, Control, Decision
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.cost_aggregator.service import CostAggregator
from warden.cost_aggregator.settings import CostAggregatorSettings
from warden.policy_evaluator.service import PolicyEvaluator
from warden.sdk import WardenClient

pytestmark = pytest.mark.integration


def test_a_hard_budget_kills_the_tenant_through_the_control_topic(
        topics: WardenSettings, evaluator: PolicyEvaluator, tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.toml"
    budgets.write_text('[tenants."*"]\nday_usd = 0.05\n')
    fields: dict[str, Any] = {**topics.model_dump(), "group_id": f"cost-{uuid.uuid4().hex[:8]}",
                              "budgets_file": budgets, "idle_flush_s": 1.0, "snapshot_every_s": 0.5}
    aggregator = CostAggregator(CostAggregatorSettings(**fields)).start()
    wire = wire_for(topics)
    reader = Consumer({**topics.kafka_config(), "group.id": f"r-{uuid.uuid4().hex[:6]}",
                       "auto.offset.reset": "earliest", "enable.auto.commit": False})
    reader.subscribe([topics.topic(names.CONTROL), topics.topic(names.ALERTS)])
    seen: list[Any] = []

    def read() -> None:
        for msg in reader.consume(100, 0.1):
            if msg.error() is None:
                expected = "warden.Control" if msg.topic() == topics.topic(names.CONTROL) else "warden.Alert"
                seen.append(wire.decode(msg.value(), expected))

    t0 = datetime.now(UTC).replace(second=0, microsecond=0)
    decisions = Decisions(topics)
    try:
        with in_thread(aggregator), WardenClient(topics) as client:
            run = client.run("acme", "refund_ticket", "agent-1")
            run.llm_call("gpt-4o", "openai", 1000, 100, 20.0, cost_usd=0.03, at=t0 + timedelta(seconds=1))
            run.llm_call("gpt-4o", "openai", 1000, 100, 20.0, cost_usd=0.03, at=t0 + timedelta(seconds=2))
            client.flush()
            # Two topics: the switch may be read before the alerts produced ahead of it.
            wait_for(lambda: any(isinstance(r, Control) for r in seen)
                     and sum(isinstance(r, Alert) for r in seen) >= 2, step=read, timeout_s=60,
                     what="the budget's kill switch on the control topic and its two alerts")
            switch = next(r for r in seen if isinstance(r, Control))
            assert (switch.scope, switch.active, switch.actor) == ("tenant:acme", True, "warden:budget")
            alerts = [r for r in seen if isinstance(r, Alert)]
            assert [a.rule for a in alerts] == ["budget_soft", "budget_hard"]
            assert alerts[1].severity.value == "page" and "kill switch tenant:acme set" in alerts[1].summary
            call = run.tool_call_requested("crm", "lookup", {"customer_id": "c1"}, at=t0 + timedelta(minutes=2))
            other = client.run("globex", "refund_ticket", "agent-2").tool_call_requested(
                "crm", "lookup", {"customer_id": "c2"}, at=t0 + timedelta(minutes=2))
            client.flush()
            wait_for(lambda: {d.call_id for d in decisions.seen.values()} >= {call, other}, step=decisions.read,
                     what="both decisions")
    finally:
        reader.close()
    by_call = {d.call_id: d for d in decisions.seen.values()}
    assert by_call[call].decision == Decision.DENY
    assert "kill switch tenant:acme set by warden:budget" in by_call[call].reason
    assert by_call[other].decision == Decision.ALLOW
