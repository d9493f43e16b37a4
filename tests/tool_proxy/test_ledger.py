"""Every proxied call, allowed or refused, lands in the ledger with its reason (real sink, real chDB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ledger_sink.helpers import sink_settings, wait_for
from tests.tool_proxy.running import Proxy
from warden.core.settings import WardenSettings
from warden.ledger.client import Ledger
from warden.ledger.verify import verify
from warden.ledger_sink.service import LedgerSink
from warden.tool_proxy.reference_upstream import Upstream

pytestmark = pytest.mark.integration


def land(topics: WardenSettings, ledger: Ledger, **at_least: int) -> None:
    """Run a ledger-sink until every named table holds at least that many rows."""
    sink = LedgerSink(sink_settings(topics, ledger), ledger).start()
    try:
        wait_for(lambda: all(ledger.scalar(f"SELECT count() FROM {ledger.database}.{table}") >= n
                             for table, n in at_least.items()),
                 step=sink.poll_once, timeout_s=60, what=f"rows in the ledger: {at_least}")
    finally:
        sink.close()


def test_allowed_and_refused_calls_land_with_their_reasons(topics: WardenSettings, ledger: Ledger,
                                                          tmp_path: Path) -> None:
    upstream = Upstream().start()
    proxy = Proxy(topics, tmp_path, upstream)
    try:
        token = proxy.token(run="run-ledger")
        assert proxy.call(token, "crm", "lookup", {"customer_id": "c-1"}).status_code == 200
        assert proxy.call(token, "payments", "refund", {"order_id": "o", "amount_usd": -1}).status_code == 422
        assert proxy.call(token, "reports", "export", {"report": "r", "row_count": 1}).status_code == 403
        assert proxy.call(token + "x", "crm", "lookup", {"customer_id": "c-1"}).status_code == 401
        proxy.service.producer.flush(10)
    finally:
        proxy.close()
        upstream.stop()
    assert upstream.total == 1

    db = ledger.database
    land(topics, ledger, proxy_calls=4, agent_events=4)
    rows = ledger.rows(f"SELECT reason_code, outcome, status_code, upstream_called, run_id, reason "
                       f"FROM {db}.proxy_calls ORDER BY reason_code")
    assert [r[:5] for r in rows] == [
        ("ok", "allowed", 200, True, "run-ledger"),
        ("schema_invalid", "refused", 422, False, "run-ledger"),
        ("token_scope", "refused", 403, False, "run-ledger"),
        ("token_tampered", "refused", 401, False, None),
    ]
    assert "input.amount_usd" in rows[1][5]
    completed = ledger.rows(f"SELECT status, error_code FROM {db}.agent_events "
                            f"WHERE event_type = 'tool_call_completed' ORDER BY occurred_at, step")
    assert sorted(completed, key=str) == sorted([("ok", None), ("denied", "token_scope")], key=str)
    assert verify(ledger, sink_settings(topics, ledger).chain_keys()).ok  # hash-chained like every other


def test_two_calls_with_the_same_client_call_id_both_land(topics: WardenSettings, ledger: Ledger,
                                                         tmp_path: Path) -> None:
    upstream = Upstream().start()
    proxy = Proxy(topics, tmp_path, upstream)
    try:
        token = proxy.token(run="run-dup")
        ids = [proxy.call(token, "crm", "lookup", {"customer_id": "c-1"}, call_id="dup-1").json()["call_id"]
               for _ in range(2)]
        proxy.service.producer.flush(10)
    finally:
        proxy.close()
        upstream.stop()
    assert upstream.total == 2 and len(set(ids)) == 2

    db = ledger.database
    land(topics, ledger, proxy_calls=2, agent_events=4)
    rows = ledger.rows(f"SELECT call_id, reason_code FROM {db}.proxy_calls ORDER BY call_id")
    assert sorted(rows) == sorted((i, "ok") for i in ids)
