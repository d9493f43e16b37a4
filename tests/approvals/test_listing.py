"""What an approver sees and how they name a call: the API and `warden approvals` on the real broker,
ledger-sink and evaluator (issue 18: an approver decided blind, with the call id cut at 80 columns)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from tests.approvals.test_service import TOKENS, auth, serve
from tests.ledger_sink.helpers import produce, simulated, sink_settings, wait_for
from tests.running import in_thread
from warden.broker.admin import ensure_topics
from warden.core.events import EventType, ToolCallRequested
from warden.core.records import Decision, PolicyDecision, RiskScore
from warden.core.settings import WardenSettings
from warden.core.topics import APPROVAL_REQUESTS, RISK_SCORES
from warden.core.wire import wire_for
from warden.ledger.client import Ledger
from warden.ledger_sink.service import LedgerSink
from warden.policy_evaluator.service import PolicyEvaluator
from warden.sdk import WardenClient
from warden.stack import warden_command

pytestmark = pytest.mark.integration
FIRST, SECOND = "feedc0de-aaaa-4a0e-9f9d-2d5c1f0e8a11", "feedc0de-bbbb-4c1e-8e2d-77aa01b2c3d4"
REASON = "customer jane.doe@example.com says card 4111 1111 1111 1111 was charged twice"


@pytest.fixture
def api(topics: WardenSettings, evaluator: PolicyEvaluator, ledger: Ledger) -> Iterator[str]:
    """The approvals API with a ledger-sink serving queries (as `warden up` runs them)."""
    with in_thread(LedgerSink(sink_settings(topics, ledger, serve_queries=True), ledger).start()):
        yield from serve(topics, clickhouse_database=ledger.database)


def pending(url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = httpx.get(f"{url}/v1/approvals", headers=auth("dana@acme.com"), timeout=30).json()
    return items


def cli(url: str, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "KAFKA_"))}
    env.update(WARDEN_APPROVALS_URL=url, WARDEN_APPROVER_TOKEN=TOKENS["dana@acme.com"], COLUMNS=str(columns))
    return subprocess.run([*warden_command(), "approvals", *args], capture_output=True, text=True, timeout=120,
                          env=env)


def test_each_request_shows_the_call_its_context_risk_and_time_and_a_prefix_decides_it(
        topics: WardenSettings, api: str) -> None:
    with WardenClient(topics) as client:
        run = client.run("acme", "refund_ticket", "refund-agent-9")
        client.gate()
        for call_id, amount in ((FIRST, 250.0), (SECOND, 420.5)):
            run.tool_call_requested("payments", "refund", {"order_id": f"o-{amount:.0f}", "amount_usd": amount,
                                                           "reason": REASON}, call_id=call_id)
        client.flush()
        wait_for(lambda: [i["details"] for i in pending(api)] == ["ledger", "ledger"],
                 what="both requests listed with their details from the ledger")
        first, second = pending(api)
        assert (first["call_id"], second["call_id"]) == (FIRST, SECOND)  # oldest first, ids in full
        assert (first["tool_action"], first["workflow"], first["agent_id"], first["tenant_id"]) == (
            "payments.refund", "refund_ticket", "refund-agent-9", "acme")
        assert first["run_id"] == run.run_id and "refund-over-100" in first["policy_ids"]
        assert first["params"]["amount_usd"] == 250.0 and first["params"]["order_id"] == "o-250"
        assert "jane.doe@example.com" not in json.dumps(first) and "4111" not in json.dumps(first)
        assert "[REDACTED:email]" in first["params"]["reason"] and "[REDACTED:card]" in first["params"]["reason"]
        assert 0 <= first["age_s"] < first["age_s"] + first["expires_in_s"] <= 900

        narrow = cli(api, "list")
        assert narrow.returncode == 0, narrow.stderr
        lines = narrow.stdout.splitlines()
        assert FIRST in lines and SECOND in lines  # each id whole, on a line of its own, at 80 columns
        assert max(len(line) for line in lines) <= 80
        text = " ".join(narrow.stdout.split())
        assert "payments.refund" in text and "refund-agent-9" in text and "[REDACTED:email]" in text
        assert "expires in" in text and "refund-over-100" in text
        listed = json.loads(cli(api, "list", "--format", "json").stdout)
        assert [i["call_id"] for i in listed] == [FIRST, SECOND] and listed[1]["params"]["amount_usd"] == 420.5

        ambiguous = cli(api, "approve", "feedc0de", "-r", "both look fine")
        assert ambiguous.returncode == 1 and len(ambiguous.stderr.strip().splitlines()) == 1
        assert FIRST in ambiguous.stderr and SECOND in ambiguous.stderr and "409" in ambiguous.stderr
        unknown = cli(api, "reject", "0ddba11", "-r", "x")
        assert unknown.returncode == 1 and "no pending approval request" in unknown.stderr
        done = cli(api, "approve", "feedc0de-a", "-r", "order verified")
        assert done.returncode == 0, done.stderr
        assert f"approved call {FIRST} as dana@acme.com" in " ".join(done.stdout.split())
        rejected = httpx.post(f"{api}/v1/approvals/feedc0de-bb/reject", json={"rationale": "duplicate"},
                              headers=auth("eve@acme.com"), timeout=30)
        assert (rejected.status_code, rejected.json()["call_id"]) == (200, SECOND)
        again = httpx.post(f"{api}/v1/approvals/feedc0de-a/reject", json={"rationale": "changed my mind"},
                           headers=auth("eve@acme.com"), timeout=30)
        assert again.status_code == 409 and "already decided: approved by dana@acme.com" in again.text
        assert client.authorize(FIRST, timeout_s=30).outcome == "approved"
        assert client.authorize(SECOND, timeout_s=30).outcome == "rejected"


def test_a_score_no_longer_on_risk_scores_is_read_back_from_the_ledger(topics: WardenSettings, ledger: Ledger) -> None:
    """On the embedded durable broker a score every service has read leaves risk.scores after minutes (ADR 0028):
    an approvals service restarted later rebuilds the request without it. Here the sink lands the test's topics,
    and the approvals service follows topics of another prefix whose risk.scores never held the score."""
    later = topics.model_copy(update={"topic_prefix": f"{topics.topic_prefix}later."})
    ensure_topics(later)
    event = next(e for e in simulated(40, "lr") if e.event_type == EventType.TOOL_CALL_REQUESTED)
    assert isinstance(event.body, ToolCallRequested)
    score = RiskScore(event_id=event.event_id, run_id=event.run_id, score=0.62, route_to_human=True,
                      factors={"magnitude": 0.9, "external": 1.0, "steps": 0.1},
                      contributions={"magnitude": 0.27, "external": 0.2, "steps": 0.01},
                      tenant_id=event.tenant_id, workflow=event.workflow, call_id=event.body.call_id)
    asked = PolicyDecision(decision_id=f"d-{event.event_id}", event_id=event.event_id, call_id=event.body.call_id,
                           run_id=event.run_id, tenant_id=event.tenant_id, decided_at=event.occurred_at,
                           decision=Decision.REQUIRE_APPROVAL, policy_ids=["refund-over-100"],
                           reason="needs a human approval", policy_version="v1")
    wire = wire_for(topics)
    with in_thread(LedgerSink(sink_settings(topics, ledger, serve_queries=True), ledger).start()):
        produce(topics, [event])
        producer = Producer(topics.producer_config())
        producer.produce(topics.topic(RISK_SCORES), wire.encode(score), key=event.run_id.encode())
        producer.produce(later.topic(APPROVAL_REQUESTS), wire.encode(asked), key=event.run_id.encode())
        assert producer.flush(30) == 0
        wait_for(lambda: ledger.query(f"SELECT count() FROM {ledger.database}.risk_scores").result_rows[0][0] == 1,
                 what="the score in the ledger")
        with contextmanager(serve)(later, clickhouse_database=ledger.database, approval_timeout_s=10**9) as url:
            wait_for(lambda: len(pending(url)) == 1, what="the request listed")
            (listed,) = pending(url)
            assert listed["call_id"] == event.body.call_id and listed["details"] == "ledger"
            assert listed["risk_score"] == 0.62
            assert listed["risk_factors"] == [{"factor": "magnitude", "contribution": 0.27},
                                              {"factor": "external", "contribution": 0.2},
                                              {"factor": "steps", "contribution": 0.01}]
