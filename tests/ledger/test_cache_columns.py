"""The cache fields of an llm_call land as columns (migration 0018), in its hash, and verify; rows written
before the migration (no cache columns at all) still verify."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.ledger_sink.test_processor import event, incoming
from warden.core.events import AgentEvent, new_event_id
from warden.ledger.client import Ledger
from warden.ledger.verify import verify
from warden.ledger_rows.chain import GENESIS, link
from warden.ledger_rows.tables import TABLES_BY_NAME
from warden.ledger_sink.processor import ChainHeads, land

EVENTS = TABLES_BY_NAME["agent_events"]


def llm(run: str, step: int, **body: object) -> AgentEvent:
    return AgentEvent.model_validate({
        "event_id": new_event_id(), "event_type": "llm_call", "occurred_at": datetime.now(UTC), "tenant_id": "acme",
        "workflow": "refund_ticket", "run_id": run, "agent_id": "a1", "step": step,
        "body": {"model": "gpt-4o", "provider": "openai", "input_tokens": 0, "output_tokens": 0,
                 "latency_ms": 0.2, **body}})


def test_a_cache_hit_lands_with_its_savings_verifies_and_a_changed_saving_is_named(ledger: Ledger) -> None:
    hit = llm("run-1", 2, cache_key="ab12", cache_hit=True, cost_usd=0.0, saved_input_tokens=900,
              saved_output_tokens=60, saved_usd=0.004)
    batch = [incoming(event("run-1", 1), 0), incoming(hit, 1), incoming(llm("run-1", 3, input_tokens=5, cache_key="cd",
                                                                                cache_pii="email"), 2)]
    _, landed = land(ChainHeads(), batch, set())
    for table, columns in landed.columns.items():
        ledger.insert(table, TABLES_BY_NAME[table].insert_columns, columns)
    rows = ledger.rows(f"SELECT cache_key, cache_hit, cache_pii, saved_input_tokens, saved_usd FROM "
                       f"{ledger.database}.agent_events ORDER BY step")
    assert rows == [(None, None, None, None, None), ("ab12", True, None, 900, 0.004), ("cd", False, "email", 0, None)]
    assert verify(ledger).ok
    ledger.command(f"ALTER TABLE {ledger.database}.agent_events UPDATE saved_usd = 4.0 WHERE event_id = "
                   f"'{hit.event_id}'", settings={"mutations_sync": 2})
    report = verify(ledger)
    assert report.broken is not None and [b.record_id for b in report.broken] == [hit.event_id]


def test_an_llm_call_hashed_before_the_cache_columns_existed_still_verifies(ledger: Ledger) -> None:
    old = llm("run-old", 1, input_tokens=700, output_tokens=50)
    row = {**EVENTS.to_row(old), "record_id": old.event_id, "chain_key": "run-old", "chain_seq": 1}
    before = [row[c] for c in (*EVENTS.base_columns, "record_id", "chain_key", "chain_seq")]
    before.extend([name, row[name]] for name in ("route", "release") if row[name] is not None)
    row.update({"src_topic": "agent.events", "src_partition": 0, "src_offset": 0, "prev_hash": GENESIS,
                "hash": link(GENESIS, before), "hash_key_id": ""})
    for name in ("cache_key", "cache_hit", "cache_pii", "saved_input_tokens", "saved_output_tokens", "saved_usd"):
        row[name] = None  # what the columns read for a row inserted before migration 0018
    ledger.insert("agent_events", list(EVENTS.insert_columns), [[row[c]] for c in EVENTS.insert_columns])
    report = verify(ledger)
    assert report.ok, report.broken
