"""A small ledger built record by record (landed as the ledger-sink lands them) and panel SQL run on it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from warden.core.events import AgentEvent
from warden.dashboards.macros import Selection, TimeRange, render
from warden.ledger.client import Ledger
from warden.ledger.readonly import run_readonly
from warden.ledger_rows.tables import TABLES
from warden.ledger_sink.processor import ChainHeads, Incoming, land

# Panels whose source the demo does not fill: they must run on the demo's ledger, and show data on the
# small ledgers of test_ledger_panels.py.
NOT_IN_DEMO = {
    "Eval runs": "the demo runs no eval", "Eval success rate": "the demo runs no eval",
    "Failed eval items": "the demo runs no eval",
    "Ledger verification": "the demo never runs `warden ledger verify` (the stack owns the ledger)",
}
TOPIC_OF = {table.model: topic for topic, table in TABLES.items()}
OPTIONS = {"tenant": ["acme", "globex"], "workflow": ["export_report", "refund_ticket"]}


def fill(ledger: Ledger, records: Sequence[BaseModel]) -> None:
    batch = [Incoming(TOPIC_OF[type(r)], 0, offset, getattr(r, "run_id", None) or "k", r)
             for offset, r in enumerate(records)]
    _, landed = land(ChainHeads(), batch, set())
    for table in TABLES.values():
        if table.name in landed.columns:
            ledger.insert(table.name, table.insert_columns, landed.columns[table.name])


def event(kind: str, run_id: str, at: datetime, step: int = 1, tenant: str = "acme",
          workflow: str = "refund_ticket", **body: Any) -> AgentEvent:
    return AgentEvent.model_validate({
        "event_id": str(uuid.uuid4()), "event_type": kind, "occurred_at": at, "tenant_id": tenant,
        "workflow": workflow, "run_id": run_id, "agent_id": "agent-1", "step": step, "body": body})


def run_sql(ledger: Ledger, sql: str, when: TimeRange, selection: Selection | None = None) -> tuple[
        list[str], list[dict[str, Any]]]:
    """The panel's SQL as Grafana sends it, on the test's own database instead of `warden`."""
    text = re.sub(r"\bwarden\.(?=[a-z_]+\b)", f"{ledger.database}.", render(sql, when, selection or {}, OPTIONS))
    columns, rows = run_readonly(ledger, text)
    return columns, [dict(zip(columns, row, strict=True)) for row in rows]
