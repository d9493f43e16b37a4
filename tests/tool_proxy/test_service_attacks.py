"""What a hostile agent or issuer tried against the proxy (review of issue 6), on the real broker,
approvals service and a real local upstream: each test failed before its fix."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ledger_sink.helpers import wait_for
from tests.tool_proxy.helpers import SECRETS
from tests.tool_proxy.running import Proxy, read
from tests.tool_proxy.test_service import OPS
from warden.approvals.service import Approvals
from warden.approvals.settings import ApprovalsSettings
from warden.core import topics as t
from warden.core.events import ToolCallCompleted, ToolCallRequested
from warden.core.records import ApprovalDecision, ApprovalOutcome
from warden.core.settings import WardenSettings
from warden.tool_proxy.approvals_wait import ApprovalFollower
from warden.tool_proxy.reference_upstream import Upstream
from warden.tool_proxy.tokens import MAX_TTL_S

pytestmark = pytest.mark.integration


def approvals_for(settings: WardenSettings) -> Approvals:
    fields: dict[str, Any] = {**WardenSettings.model_dump(settings), "approver_tokens": {"dana@acme.com": "x"}}
    service = Approvals(ApprovalsSettings(**{k: v for k, v in fields.items() if k in ApprovalsSettings.model_fields}))
    wait_for(service.caught_up.is_set, timeout_s=30, what="approvals caught up")
    return service


def test_an_approval_is_never_replayed_to_a_later_call_with_the_same_call_id(proxy: Proxy,
                                                                           upstream: Upstream) -> None:
    """A $150 refund approved for call id "fixed-1" once let a globex token send $99,999 under the same id."""
    approvals = approvals_for(proxy.settings)
    try:
        acme, globex = proxy.token(run="run-acme"), proxy.token(run="run-globex", tenant="globex")
        replies: list[httpx.Response] = []
        caller = threading.Thread(target=lambda: replies.append(proxy.call(
            acme, "payments", "refund", {"order_id": "o-1", "amount_usd": 150.0}, call_id="fixed-1",
            approval_timeout_s=30)))  # bounded: a failing assertion below must not leave it waiting 15 min
        caller.start()
        wait_for(lambda: bool(approvals.pending()), timeout_s=30, what="the approval request")
        pending = approvals.pending()[0]
        assert pending["call_id"] != "fixed-1"  # the proxy names the call, not the agent
        approvals.decide(pending["call_id"], "dana@acme.com", ApprovalOutcome.APPROVED, "small refund")
        caller.join(30)
        assert replies[0].status_code == 200, replies[0].text
        assert replies[0].json()["client_call_id"] == "fixed-1"

        attack = proxy.call(globex, "payments", "refund", {"order_id": "o-2", "amount_usd": 99_999.0},
                            call_id="fixed-1", approval_timeout_s=1)
        assert (attack.status_code, attack.json()["error"]) == (403, "approval_timeout"), attack.text
        assert upstream.requests["/payments/refund"] == 1  # only the approved $150 reached the upstream
        assert attack.json()["call_id"] not in (pending["call_id"], "fixed-1")
        wait_for(lambda: any(p["call_id"] == attack.json()["call_id"] for p in approvals.pending()),
                 timeout_s=30, what="the attack waiting for its own human decision")
    finally:
        approvals.close()


def test_an_approval_for_another_run_does_not_wake_the_call(topics: WardenSettings) -> None:
    follower = ApprovalFollower(topics)

    def decision(run_id: str) -> ApprovalDecision:
        return ApprovalDecision(approval_id="a", call_id="c-1", run_id=run_id, approver="dana@acme.com",
                                decided_at=datetime.now(UTC), decision=ApprovalOutcome.APPROVED, rationale="ok")

    async def scenario() -> tuple[bool, ApprovalDecision]:
        future = follower.expect("c-1", "run-mine")
        follower._deliver(decision("run-other"))
        await asyncio.sleep(0)  # let any call_soon_threadsafe resolution run
        woken_by_other = future.done()
        follower._deliver(decision("run-mine"))
        return woken_by_other, await asyncio.wait_for(future, 10)

    try:
        woken_by_other, got = asyncio.run(scenario())
    finally:
        follower.close()
    assert not woken_by_other
    assert got.run_id == "run-mine"


def test_a_secret_echoed_through_a_json_escape_does_not_leak(proxy: Proxy, upstream: Upstream) -> None:
    secret = SECRETS["crm-api-key"]
    assert secret.endswith("0")
    escaped = secret[:-1] + "\\u0030"  # JSON for the same string: the raw-text pass does not see it
    body = '{"customer_id": "c-1", "name": "NAME", "email": "a@b.co"}'.replace("NAME", escaped)
    upstream.overrides["/crm/lookup"] = (200, body)
    reply = proxy.call(proxy.token(run="run-esc"), "crm", "lookup", {"customer_id": "c-1"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["output"]["name"] == "[REDACTED:secret]"
    assert secret not in json.dumps(reply.json())
    events = read(proxy.settings, t.AGENT_EVENTS, "warden.AgentEvent", lambda r: len(r) >= 2)
    completed = [e for e in events if isinstance(e.body, ToolCallCompleted)]
    assert completed and all(secret not in json.dumps(json.loads(e.body.output or "null")) for e in completed)


def test_a_failing_shared_store_refuses_the_call_with_a_recorded_503(
        topics: WardenSettings, tmp_path: Path, upstream: Upstream) -> None:
    db = tmp_path / "store.db"
    running = Proxy(topics, tmp_path, upstream, proxy_shared_store=f"sqlite://{db}")
    try:
        token = running.token(run="run-store")
        assert running.call(token, "crm", "lookup", {"customer_id": "c"}).status_code == 200
        other = sqlite3.connect(db)
        other.execute("DROP TABLE buckets")  # the store breaks under the running proxy
        other.commit()
        reply = running.call(token, "crm", "lookup", {"customer_id": "c"})
        assert (reply.status_code, reply.json()["error"]) == (503, "store_unavailable"), reply.text
        other.execute("DROP TABLE revoked")
        other.commit()
        other.close()
        reply = running.call(token, "crm", "lookup", {"customer_id": "c"})
        assert (reply.status_code, reply.json()["error"]) == (503, "store_unavailable"), reply.text
        assert "revocations" in reply.json()["reason"]
        assert upstream.total == 1
        records = read(running.settings, t.PROXY_CALLS, "warden.ProxyCall",
                       lambda r: sum(x.reason_code == "store_unavailable" for x in r) >= 2)
        assert all(not r.upstream_called for r in records if r.reason_code == "store_unavailable")
    finally:
        running.close()


def test_a_revocation_outlives_the_token_and_health_names_the_store(
        topics: WardenSettings, tmp_path: Path, upstream: Upstream, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="warden.tool_proxy"):
        running = Proxy(topics, tmp_path, upstream)
    try:
        assert any("no shared store" in r.getMessage() for r in caplog.records)
        health = running.client.get("/health").json()
        assert (health["store"], health["shared_store"]) == ("memory", False)
        # A token from a platform whose clock runs 30 min ahead lives until well past now + 1 h.
        ahead = running.service.keyring
        token, claims = ahead.issue(tenant_id="acme", workflow="refund_ticket", run_id="run-late", agent_id="a",
                                    tools=frozenset({"crm.lookup"}), now=claims_now(running) + 1800,
                                    ttl_s=MAX_TTL_S)
        assert running.client.post("/v1/tokens/revoke", json={"token": token, "reason": "leaked"},
                                   headers=OPS).status_code == 200
        assert running.service.store.revoked([f"token:{claims.token_id}"], claims.expires_at - 1)
    finally:
        running.close()
    shared = Proxy(topics, tmp_path, upstream, proxy_shared_store=f"sqlite://{tmp_path}/s.db")
    try:
        health = shared.client.get("/health").json()
        assert (health["store"], health["shared_store"]) == (f"sqlite://{tmp_path}/s.db", True)
    finally:
        shared.close()


def claims_now(running: Proxy) -> float:
    """The issue time of a fresh token: the proxy's own notion of now, not read from the clock here."""
    return float(running.service.keyring.verify(running.token(), 0).issued_at)


def test_the_proxy_numbers_a_runs_steps_itself(proxy: Proxy, upstream: Upstream) -> None:
    token = proxy.token(run="run-steps")
    for _ in range(2):
        assert proxy.call(token, "crm", "lookup", {"customer_id": "c"}, step=7).status_code == 200
    events = read(proxy.settings, t.AGENT_EVENTS, "warden.AgentEvent", lambda r: len(r) >= 4)
    assert [e.step for e in events if isinstance(e.body, ToolCallRequested)] == [1, 2]


def test_a_hostile_request_body_is_a_400_never_a_500(proxy: Proxy, upstream: Upstream) -> None:
    """Issue 13: 10,000 levels raised RecursionError in the proxy's json.loads; a duplicate key was taken last."""
    headers = {"Authorization": f"Bearer {proxy.token(run='run-hostile')}"}
    for body, why in (('{"input": ' + "[" * 10_000 + "]" * 10_000 + "}", "nests deeper than the limit"),
                      ('{"input": {"order_id": "o", "amount_usd": 5, "amount_usd": 500}}', "twice"),
                      ('{"input": {"order_id": "o", "amount_usd": NaN}}', "NaN")):
        reply = proxy.client.post("/v1/tools/payments/refund", content=body, headers=headers)
        assert (reply.status_code, reply.json()["error"]) == (400, "body_invalid"), reply.text
        assert why in reply.json()["reason"]
    assert upstream.total == 0
