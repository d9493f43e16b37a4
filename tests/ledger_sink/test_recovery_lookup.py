"""The recovery window's lookup of a whole batch against the ledger: a batch past ~6,700 event ids made one
query text over ClickHouse's max_query_size, so a sink with WARDEN_BATCH_MAX_ROWS=10000 failed its first flush
after every (re)start."""

from __future__ import annotations

import pytest

from tests.ledger_sink.helpers import simulated, sink_settings
from warden.core.settings import WardenSettings
from warden.ledger.client import Ledger
from warden.ledger_rows.chain import ChainKey
from warden.ledger_rows.tables import TABLES_BY_NAME
from warden.ledger_sink.processor import ChainHeads, Incoming, land
from warden.ledger_sink.service import Batch, LedgerSink

pytestmark = pytest.mark.integration


def test_a_batch_of_ten_thousand_is_looked_up_and_what_landed_is_found(topics: WardenSettings, ledger: Ledger) -> None:
    settings = sink_settings(topics, ledger, batch_max_rows=10_000)
    src = settings.topic("agent.events")
    batch = [Incoming("agent.events", 0, i, e.run_id, e, src) for i, e in enumerate(simulated(10_000, "rl"))]
    _, landed = land(ChainHeads(), batch[:3_000], set(), ChainKey("t", b"k" * 32))  # landed before a crash
    table = TABLES_BY_NAME["agent_events"]
    ledger.insert(table.name, table.insert_columns, landed.columns[table.name])
    sink = LedgerSink(settings, ledger)
    try:
        sink.processor.assigned(Batch(), "agent.events", 0)  # the window a (re)assignment opens
        found = sink.processor._already_landed(batch)
    finally:
        sink.close()
    assert found == {("agent_events", item.message.event_id) for item in batch[:3_000]}  # type: ignore[attr-defined]
