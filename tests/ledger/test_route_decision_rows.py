"""Routing decisions in the ledger: one JSON column, redacted like params, chained and verified like any row;
an edit of the decision is caught."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.cost.ledger_fixture import land_all
from tests.routing.runs import routed_runs
from warden.core.events import LlmCall
from warden.ledger.client import Ledger
from warden.ledger.verify import verify


def test_decisions_land_verify_and_an_edit_is_named(ledger: Ledger) -> None:
    events = routed_runs(12, datetime(2026, 11, 2, 9, tzinfo=UTC), escalate_share=0.5)
    decision = next(e for e in events if isinstance(e.body, LlmCall) and e.body.route_decision is not None)
    labelled = decision.model_copy(update={"event_id": "2f0c1d9e-6a43-4b5e-9c7d-8e1f2a3b4c5d", "body": (
        decision.body.model_copy(update={"route_decision": decision.body.route_decision.model_copy(  # type: ignore
            update={"features": json.dumps({"workflow": "refund_ticket", "contact": "dana@acme.com"})})}))})
    land_all(ledger, [*events, labelled])
    report = verify(ledger)
    assert report.ok, report.broken
    rows = ledger.rows(f"SELECT event_id, route, route_decision FROM {ledger.database}.agent_events "
                       "WHERE route_decision IS NOT NULL ORDER BY event_id")
    assert len(rows) == sum(isinstance(e.body, LlmCall) and e.body.route_decision is not None for e in events) + 1
    stored = {r[0]: json.loads(r[2]) for r in rows}
    assert isinstance(stored[decision.event_id]["features"], dict)  # one JSON object, not JSON in a string
    assert "dana@acme.com" not in json.dumps(stored[labelled.event_id])  # redacted like params
    assert stored[labelled.event_id]["features"]["contact"] != "dana@acme.com"
    ledger.command(f"ALTER TABLE {ledger.database}.agent_events UPDATE route_decision = replace(route_decision, "
                   f"'\"rule\"', '\"rulx\"') WHERE event_id = '{decision.event_id}'", settings={"mutations_sync": 2})
    broken = verify(ledger)
    assert not broken.ok and [b.record_id for b in broken.broken or []] == [decision.event_id]
