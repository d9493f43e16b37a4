"""The reference tools act on the world exactly as the README says."""

from __future__ import annotations

import pytest

from warden.evals.errors import ToolFailed
from warden.evals.world import REFERENCE_TOOLS, World


def test_each_reference_tool_changes_only_its_collection() -> None:
    world = World({"tickets": {"t-1": {"status": "open"}}, "customers": {"c-1": {"customer_id": "c-1", "name": "A"},
                                                                           "c-9": {"customer_id": "c-9", "name": "B"}}})
    tools = REFERENCE_TOOLS
    assert tools["payments.refund"](world, {"order_id": "o-1", "amount_usd": 20, "reason": "x"})["amount_usd"] == 20
    tools["tickets.update"](world, {"ticket_id": "t-1", "status": "closed", "comment": "done"})
    tools["email.send"](world, {"to": "a@b.co", "subject": "s", "body": "b"})
    tools["reports.export"](world, {"report": "r", "row_count": 5})
    tools["crm.delete_record"](world, {"record_id": "c-9"})
    tools["iam.grant_access"](world, {"user": "a@b.co", "role": "viewer"})
    assert tools["crm.lookup"](world, {"customer_id": "c-1"}) == {"customer_id": "c-1", "name": "A"}
    assert world.diff() == {
        "refunds": [{"order_id": "o-1", "amount_usd": 20}],  # the reason is not part of the refund record
        "tickets": {"t-1": {"status": "closed", "comment": "done"}},
        "outbox": [{"to": "a@b.co", "subject": "s", "body": "b"}],
        "exports": [{"report": "r", "row_count": 5}],
        "customers": {"c-9": None},
        "grants": [{"user": "a@b.co", "role": "viewer"}],
    }


def test_a_ticket_update_without_a_comment_sets_the_status_only() -> None:
    world = World({"tickets": {"t-1": {"status": "open", "comment": "old"}}})
    REFERENCE_TOOLS["tickets.update"](world, {"ticket_id": "t-1", "status": "pending"})
    assert world.diff() == {"tickets": {"t-1": {"status": "pending"}}}


def test_a_missing_entry_is_a_tool_failure() -> None:
    world = World({"customers": {}})
    for name, params in (("crm.lookup", {"customer_id": "c-404"}), ("crm.delete_record", {"record_id": "c-404"}),
                         ("tickets.update", {"ticket_id": "t-404", "status": "open"})):
        with pytest.raises(ToolFailed, match="does not exist"):
            REFERENCE_TOOLS[name](world, params)
    with pytest.raises(ToolFailed, match="appends to a list"):
        REFERENCE_TOOLS["email.send"](World({"outbox": {}}), {"to": "a@b.co", "subject": "s", "body": ""})
