"""Humans in the loop, end to end on the real broker: SDK gate -> evaluator -> approvals API -> SDK gate."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from tests.ledger_sink.helpers import sink_settings, wait_for
from tests.running import in_thread
from warden.approvals.service import Approvals, create_app
from warden.approvals.settings import ApprovalsSettings
from warden.broker.tansu import free_port
from warden.core.settings import WardenSettings
from warden.ledger.client import Ledger
from warden.ledger_sink.service import LedgerSink
from warden.policy_evaluator.service import PolicyEvaluator
from warden.sdk import WardenClient

pytestmark = pytest.mark.integration
TOKENS = {"dana@acme.com": "tok-dana-7f3a", "eve@acme.com": "tok-eve-91c2"}


def serve(topics: WardenSettings, **extra: Any) -> Iterator[str]:
    fields: dict[str, Any] = {**topics.model_dump(), "approver_tokens": TOKENS, "approvals_port": free_port(),
                              **extra}
    settings = ApprovalsSettings(**fields)
    service = Approvals(settings)
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=settings.approvals_port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{settings.approvals_port}"
    wait_for(lambda: server.started, what="the approvals API")
    yield url
    server.should_exit = True
    thread.join(10)
    service.close()


@pytest.fixture
def approvals(topics: WardenSettings, evaluator: PolicyEvaluator) -> Iterator[str]:
    yield from serve(topics)


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def test_a_refund_over_100_waits_for_a_named_approver_with_a_rationale(
        topics: WardenSettings, approvals: str) -> None:
    verdicts: list[Any] = []
    with WardenClient(topics) as client:
        run = client.run("acme", "refund_ticket", "agent-1")
        asker = threading.Thread(target=lambda: verdicts.append(
            run.authorize("payments", "refund", {"order_id": "o1", "amount_usd": 250.0}, timeout_s=60)))
        asker.start()
        pending: list[dict[str, Any]] = []

        def listed() -> bool:
            pending[:] = httpx.get(f"{approvals}/v1/approvals", headers=auth("dana@acme.com"), timeout=10).json()
            return bool(pending)

        wait_for(listed, what="the request in the pending list")
        [item] = pending
        assert "refund-over-100" in item["policy_ids"] and "needs a human approval" in item["reason"]
        call = item["call_id"]
        assert httpx.get(f"{approvals}/v1/approvals", timeout=10).status_code == 401
        assert httpx.get(f"{approvals}/v1/approvals", headers={"Authorization": "Bearer guess"},
                         timeout=10).status_code == 401
        empty = httpx.post(f"{approvals}/v1/approvals/{call}/approve", json={"rationale": " "},
                           headers=auth("dana@acme.com"), timeout=10)
        assert empty.status_code == 422
        done = httpx.post(f"{approvals}/v1/approvals/{call}/approve", json={"rationale": "known customer"},
                          headers=auth("dana@acme.com"), timeout=10)
        assert done.status_code == 200, done.text
        assert done.json()["approver"] == "dana@acme.com"
        again = httpx.post(f"{approvals}/v1/approvals/{call}/reject", json={"rationale": "changed my mind"},
                           headers=auth("eve@acme.com"), timeout=10)
        assert again.status_code == 409
        asker.join(60)
    [(call_id, verdict)] = verdicts
    assert call_id == call
    assert verdict.outcome == "approved" and verdict.allowed
    assert "dana@acme.com" in verdict.reason and "known customer" in verdict.reason


def test_plain_decisions_come_back_through_the_gate(topics: WardenSettings, evaluator: PolicyEvaluator) -> None:
    with WardenClient(topics) as client:
        run = client.run("acme", "triage_ticket", "agent-2")
        _, allowed = run.authorize("crm", "lookup", {"customer_id": "c1"})
        _, denied = run.authorize("crm", "delete_record", {"record_id": "r1"})
    assert allowed.outcome == "allow" and allowed.allowed
    assert denied.outcome == "deny" and not denied.allowed
    assert "deletes-denied-v1" in denied.reason


def test_an_undecided_request_expires_and_stays_denied(topics: WardenSettings, evaluator: PolicyEvaluator) -> None:
    for _ in serve(topics, approval_timeout_s=1.0):
        with WardenClient(topics) as client:
            run = client.run("acme", "provision_access", "agent-3")
            _, verdict = run.authorize("iam", "grant_access", {"user": "ana@acme.com", "role": "admin"}, timeout_s=60)
        assert verdict.outcome == "expired" and not verdict.allowed


def test_no_evaluator_means_the_gate_fails_closed(topics: WardenSettings) -> None:
    with WardenClient(topics) as client:
        started = time.monotonic()
        _, verdict = client.run("acme", "refund_ticket", f"agent-{uuid.uuid4().hex[:4]}").authorize(
            "crm", "lookup", {"customer_id": "c1"}, timeout_s=2)
    assert verdict.outcome == "deny" and "fails closed" in verdict.reason
    assert time.monotonic() - started < 60  # bounded; no tighter timing on a shared machine


def test_kill_switches_over_http_record_who_set_them(topics: WardenSettings, approvals: str) -> None:
    assert httpx.post(f"{approvals}/v1/control/kill", json={"scope": "tool:payments", "reason": "x"},
                      timeout=10).status_code == 401
    bad = httpx.post(f"{approvals}/v1/control/kill", json={"scope": "planet:earth", "reason": "x"},
                     headers=auth("eve@acme.com"), timeout=10)
    assert bad.status_code == 422 and "scope" in bad.text
    done = httpx.post(f"{approvals}/v1/control/kill", json={"scope": "tool:payments", "reason": "refund bug"},
                      headers=auth("eve@acme.com"), timeout=10)
    assert done.status_code == 200, done.text
    assert (done.json()["actor"], done.json()["active"]) == ("eve@acme.com", True)
    time.sleep(1.0)  # the evaluator polls the control topic before every batch
    with WardenClient(topics) as client:
        _, verdict = client.run("acme", "refund_ticket", "agent-4").authorize(
            "payments", "refund", {"order_id": "o", "amount_usd": 5.0})
    assert verdict.outcome == "deny"
    assert "kill switch tool:payments set by eve@acme.com" in verdict.reason


def test_a_revive_of_a_switch_that_is_not_set_is_refused_naming_the_one_that_is(topics: WardenSettings) -> None:
    """Old code answered 200 "kill ... off" and left read-only mode on, so calls stayed denied."""
    for url in serve(topics):
        def post(path: str, scope: str, read_only: bool = False, url: str = url) -> httpx.Response:
            return httpx.post(f"{url}/v1/control/{path}", json={"scope": scope, "reason": "drill",
                                                                 "read_only": read_only},
                              headers=auth("eve@acme.com"), timeout=30)

        assert post("kill", "workflow:refund_ticket", read_only=True).status_code == 200
        assert post("kill", "tenant:acme").status_code == 200
        wrong = post("revive", "workflow:refund_ticket")
        assert wrong.status_code == 409, wrong.text
        assert ("workflow:refund_ticket has no kill switch on; read-only mode is on: revive it with --read-only"
                in wrong.json()["detail"])
        mirror = post("revive", "tenant:acme", read_only=True)
        assert mirror.status_code == 409, mirror.text
        assert ("tenant:acme has no read-only mode on; kill switch is on: revive it without --read-only"
                in mirror.json()["detail"])
        assert post("revive", "global").status_code == 200  # nothing set: an "off" that changes nothing, as before
        assert post("revive", "workflow:refund_ticket", read_only=True).status_code == 200
        assert post("revive", "tenant:acme").status_code == 200
        assert post("kill", "tenant:acme", read_only=True).status_code == 200
        again = post("revive", "tenant:acme")  # the view has read the switch set a moment ago
        assert again.status_code == 409 and "read-only mode is on" in again.json()["detail"]


def test_racing_approve_and_reject_give_one_decision(topics: WardenSettings, approvals: str) -> None:
    with WardenClient(topics) as client:
        run = client.run("acme", "provision_access", "agent-5")
        client.gate()
        call = run.tool_call_requested("iam", "grant_access", {"user": "ana@acme.com", "role": "owner"})
        client.flush()

        def pending() -> bool:
            items = httpx.get(f"{approvals}/v1/approvals", headers=auth("dana@acme.com"), timeout=10).json()
            return any(i["call_id"] == call for i in items)

        wait_for(pending, what="the request")
        codes: list[int] = []

        def answer(who: str, verb: str) -> None:
            codes.append(httpx.post(f"{approvals}/v1/approvals/{call}/{verb}", json={"rationale": "r"},
                                    headers=auth(who), timeout=10).status_code)

        racers = [threading.Thread(target=answer, args=("dana@acme.com", "approve")),
                  threading.Thread(target=answer, args=("eve@acme.com", "reject"))]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert sorted(codes) == [200, 409]
        verdict = client.authorize(call, timeout_s=30)
        assert verdict.outcome in {"approved", "rejected"}


def test_a_decision_or_switch_outside_the_approvers_scope_is_refused_and_recorded(
        topics: WardenSettings, evaluator: PolicyEvaluator, ledger: Ledger) -> None:
    """Issue 13: any approver token could decide for any tenant and set a global kill switch."""
    scoped = {**TOKENS, "sam@globex.com": {"token": "tok-sam-5d1e", "tenants": ["globex"]}}
    sam = {"Authorization": "Bearer tok-sam-5d1e"}
    with in_thread(LedgerSink(sink_settings(topics, ledger), ledger).start()):
        for url in serve(topics, approver_tokens=scoped):
            with WardenClient(topics) as client:
                run = client.run("acme", "provision_access", "agent-6")
                client.gate()
                call = run.tool_call_requested("iam", "grant_access", {"user": "ana@acme.com", "role": "owner"})
                client.flush()

                def listed(url: str = url, call: str = call) -> bool:
                    items = httpx.get(f"{url}/v1/approvals", headers=auth("dana@acme.com"), timeout=10).json()
                    return any(i["call_id"] == call for i in items)

                wait_for(listed, what="acme's request")
                assert httpx.get(f"{url}/v1/approvals", headers=sam, timeout=10).json() == []
                decided = httpx.post(f"{url}/v1/approvals/{call}/approve", json={"rationale": "looks fine"},
                                     headers=sam, timeout=10)
                assert decided.status_code == 403, decided.text
                assert "tenant acme" in decided.text
                for scope in ("global", "tenant:acme", "workflow:provision_access"):
                    switched = httpx.post(f"{url}/v1/control/kill", json={"scope": scope, "reason": "x"},
                                          headers=sam, timeout=10)
                    assert switched.status_code == 403, (scope, switched.text)
                own = httpx.post(f"{url}/v1/control/kill", json={"scope": "tenant:globex", "reason": "drill"},
                                 headers=sam, timeout=10)
                assert own.status_code == 200, own.text
                done = httpx.post(f"{url}/v1/approvals/{call}/approve", json={"rationale": "known user"},
                                  headers=auth("dana@acme.com"), timeout=10)  # the original token form
                assert done.status_code == 200, done.text
                assert client.authorize(call, timeout_s=30).outcome == "approved"
        sql = (f"SELECT labels['action'], labels['target'], tenant_id FROM {ledger.database}.alerts "
               f"WHERE rule = 'approver_scope' AND labels['approver'] = 'sam@globex.com' ORDER BY first_seen")
        wait_for(lambda: len(ledger.rows(sql)) >= 4, what="the four refusals in the ledger")
    assert ledger.rows(sql) == [("approve call", call, "acme"), ("set", "switch global", "*"),
                                ("set", "switch tenant:acme", "acme"), ("set", "switch workflow:provision_access", "*")]
    switches = ledger.rows(f"SELECT scope, actor FROM {ledger.database}.control_changes")
    assert switches == [("tenant:globex", "sam@globex.com")]
