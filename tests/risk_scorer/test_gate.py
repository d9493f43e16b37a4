"""Risk routing end to end: SDK gate -> evaluator + risk-scorer -> approvals API -> SDK gate."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.approvals.test_service import auth, serve
from tests.ledger_sink.helpers import wait_for
from tests.running import in_thread
from warden.core.settings import WardenSettings
from warden.policy_evaluator.service import PolicyEvaluator
from warden.risk_scorer.processor import ROUTING_POLICY
from warden.risk_scorer.service import RiskScorer
from warden.risk_scorer.settings import RiskScorerSettings
from warden.sdk import WardenClient

pytestmark = pytest.mark.integration


@pytest.fixture
def scorer(topics: WardenSettings) -> Iterator[RiskScorer]:
    service = RiskScorer(RiskScorerSettings(**{**topics.model_dump(), "group_id": f"rs-{uuid.uuid4().hex[:8]}"}))
    with in_thread(service.start()) as running:
        yield running


@pytest.fixture
def approvals(topics: WardenSettings, evaluator: PolicyEvaluator, scorer: RiskScorer) -> Iterator[str]:
    yield from serve(topics)


def test_an_allowed_call_in_the_riskiest_share_waits_for_a_human(topics: WardenSettings, approvals: str) -> None:
    verdicts: list[Any] = []
    with WardenClient(topics) as client:
        run = client.run("acme", "refund_ticket", "agent-risk")
        _, lookup = run.authorize("crm", "lookup", {"customer_id": "c1"}, timeout_s=60, risk_timeout_s=60)
        assert lookup.outcome == "allow" and lookup.risk is not None and not lookup.risk.route_to_human
        # Fresh topics: while the workflow warms up its threshold is the top of the scores seen so far (one
        # low lookup), and a first $95 refund (allowed by policy, money out, unfamiliar) scores above it.
        asker = threading.Thread(target=lambda: verdicts.append(run.authorize(
            "payments", "refund", {"order_id": "o1", "amount_usd": 95.0}, timeout_s=60, risk_timeout_s=60)))
        asker.start()
        pending: list[dict[str, Any]] = []

        def listed() -> bool:
            pending[:] = httpx.get(f"{approvals}/v1/approvals", headers=auth("dana@acme.com"), timeout=10).json()
            return bool(pending) and pending[0]["risk_score"] is not None

        wait_for(listed, what="the risk-routed call in the pending list")
        [item] = pending
        assert item["policy_ids"] == [ROUTING_POLICY] and "threshold" in item["reason"]
        top = item["risk_factors"]  # what made it risky, largest contribution first, for the approver
        assert 1 <= len(top) <= 3 and top == sorted(top, key=lambda f: -f["contribution"])
        assert {f["factor"] for f in top} <= {"sensitivity", "magnitude", "external", "novelty_tool", "novelty_amount",
                                             "prior_failures", "steps", "pii"}
        assert not verdicts  # held while the human decides
        done = httpx.post(f"{approvals}/v1/approvals/{item['call_id']}/approve",
                          json={"rationale": "checked the order"}, headers=auth("dana@acme.com"), timeout=10)
        assert done.status_code == 200, done.text
        asker.join(60)
    [(call_id, verdict)] = verdicts
    assert call_id == item["call_id"]
    assert verdict.outcome == "approved" and verdict.allowed and "dana@acme.com" in verdict.reason
    assert verdict.decision.decision == "allow" and verdict.risk.route_to_human
    assert verdict.risk.score == item["risk_score"] > verdict.risk.threshold


def test_without_a_risk_scorer_an_allowed_call_fails_open_unless_risk_is_required(
        topics: WardenSettings, evaluator: PolicyEvaluator) -> None:
    with WardenClient(topics) as client:
        run = client.run("acme", "refund_ticket", "agent-open")
        _, strict = run.authorize("crm", "lookup", {"customer_id": "c1"}, risk_timeout_s=0.5, risk_required=True)
        _, first = run.authorize("crm", "lookup", {"customer_id": "c1"}, risk_timeout_s=0.5)
        _, second = run.authorize("crm", "lookup", {"customer_id": "c1"}, risk_timeout_s=0.5)
    assert strict.outcome == "deny" and "requires one" in strict.reason
    for verdict in (first, second):
        assert verdict.outcome == "allow" and "risk routing fails open" in verdict.reason and verdict.risk is None
