"""The sink's pure step, with no broker and no ClickHouse."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from warden.core.events import AgentEvent, new_event_id
from warden.core.topics import AGENT_EVENTS
from warden.ledger_rows.chain import GENESIS, link
from warden.ledger_rows.tables import TABLES
from warden.ledger_sink.processor import ChainHeads, Incoming, land

EVENTS = TABLES[AGENT_EVENTS]


def event(run_id: str, step: int, params: dict[str, object] | None = None) -> AgentEvent:
    return AgentEvent.model_validate({
        "event_id": new_event_id(), "event_type": "tool_call_requested", "occurred_at": datetime.now(UTC),
        "tenant_id": "acme", "workflow": "refund_ticket", "run_id": run_id, "agent_id": "a1", "step": step,
        "body": {"call_id": f"c{step}", "tool": "crm", "action": "lookup",
                 "params": json.dumps(params or {"customer_id": "cus_1"})},
    })


def incoming(e: AgentEvent, offset: int) -> Incoming:
    return Incoming(AGENT_EVENTS, 0, offset, e.run_id, e)


def rows(columns: list[list[object]]) -> list[dict[str, object]]:
    names = EVENTS.insert_columns
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def test_each_run_is_its_own_chain_linked_in_order() -> None:
    batch = [incoming(event("r1", 1), 0), incoming(event("r2", 1), 1), incoming(event("r1", 2), 2)]
    heads, landed = land(ChainHeads(), batch, set())
    out = rows(landed.columns["agent_events"])
    r1 = [r for r in out if r["chain_key"] == "r1"]
    assert [r["chain_seq"] for r in r1] == [1, 2]
    assert r1[0]["prev_hash"] == GENESIS
    assert r1[1]["prev_hash"] == r1[0]["hash"]
    for row in out:
        assert row["hash"] == link(str(row["prev_hash"]), EVENTS.hashed_values(row))
    assert heads.get(("agent_events", "r1")) == (2, r1[1]["hash"])


def test_chains_continue_from_known_heads() -> None:
    heads = ChainHeads()
    heads.put(("agent_events", "r1"), (41, "ab" * 32))
    _, landed = land(heads, [incoming(event("r1", 42), 7)], set())
    row = rows(landed.columns["agent_events"])[0]
    assert (row["chain_seq"], row["prev_hash"]) == (42, "ab" * 32)


def test_already_landed_and_repeated_records_are_skipped() -> None:
    first, second = event("r1", 1), event("r1", 2)
    batch = [incoming(first, 0), incoming(second, 1), incoming(second, 2)]
    _, landed = land(ChainHeads(), batch, {("agent_events", first.event_id)})
    assert landed.rows == {"agent_events": 1}
    assert landed.duplicates == 2
    assert rows(landed.columns["agent_events"])[0]["record_id"] == second.event_id


def test_params_are_redacted_before_they_are_stored_and_counted() -> None:
    e = event("r1", 1, {"to": "jane.doe@example.com", "card": "4111 1111 1111 1111"})
    _, landed = land(ChainHeads(), [incoming(e, 0)], set())
    row = rows(landed.columns["agent_events"])[0]
    assert "jane.doe@example.com" not in str(row["params"])
    assert "4111" not in str(row["params"])
    assert row["redactions"] == 2
    assert row["redaction_kinds"] == ["card", "email"]
    assert json.loads(str(row["params"]))  # still JSON
    assert landed.redactions == 2


def test_chain_heads_are_bounded() -> None:
    heads = ChainHeads(capacity=2)
    for key in ("a", "b", "c"):
        heads.put(("agent_events", key), (1, GENESIS))
    assert heads.missing({("agent_events", "a"), ("agent_events", "c")}) == {("agent_events", "a")}
