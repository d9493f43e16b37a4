"""The tool proxy over HTTP on the real broker, in front of a real local upstream that counts requests."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from typer.testing import CliRunner

from tests.ledger_sink.helpers import wait_for
from tests.tool_proxy.helpers import ISSUERS, KEY_NEW, SECRETS
from tests.tool_proxy.running import Proxy, read
from warden.approvals.service import Approvals
from warden.approvals.settings import ApprovalsSettings
from warden.broker.tansu import free_port
from warden.cli.main import app
from warden.core import topics as t
from warden.core.events import AgentEvent, ToolCallCompleted, ToolCallRequested
from warden.core.records import ApprovalOutcome, ControlKind, ProxyCall
from warden.core.settings import WardenSettings
from warden.kafka.control import publish
from warden.policy_evaluator.service import PolicyEvaluator
from warden.tool_proxy.http_api import create_app
from warden.tool_proxy.reference_upstream import Upstream
from warden.tool_proxy.tokens import Keyring

pytestmark = pytest.mark.integration
ISSUER = {"Authorization": f"Bearer {ISSUERS['platform@acme']}"}  # may act for tenant acme only
OPS = {"Authorization": f"Bearer {ISSUERS['ops@warden']}"}  # may act for every tenant


def test_an_allowed_call_reaches_the_upstream_with_a_secret_the_agent_never_sees(
        proxy: Proxy, upstream: Upstream) -> None:
    token = proxy.token(run="run-ok")
    echo = json.dumps({"customer_id": "c-1", "name": SECRETS["crm-api-key"], "email": "ada@example.com"})
    upstream.overrides["/crm/lookup"] = (200, echo)
    reply = proxy.call(token, "crm", "lookup", {"customer_id": "c-1"}, step=4, call_id="agent-ref-1")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["client_call_id"] == "agent-ref-1" and body["call_id"] != "agent-ref-1"
    assert body["output"]["name"] == "[REDACTED:secret]"  # an upstream echoing its secret does not leak it
    assert body["decision"] == "allow"
    assert SECRETS["crm-api-key"] not in reply.text and token not in upstream.authorizations[0]
    assert upstream.requests["/crm/lookup"] == 1
    assert upstream.authorizations == [f"Bearer {SECRETS['crm-api-key']}"]

    events = read(proxy.settings, t.AGENT_EVENTS, "warden.AgentEvent", lambda r: len(r) >= 2)
    requested, completed = events
    assert isinstance(requested, AgentEvent) and isinstance(requested.body, ToolCallRequested)
    assert (requested.tenant_id, requested.run_id, requested.step, requested.body.call_id) == (
        "acme", "run-ok", 1, body["call_id"])  # the proxy numbers steps: the agent's step 4 is ignored
    assert isinstance(completed.body, ToolCallCompleted) and completed.body.status.value == "ok"
    assert "[REDACTED:email]" in (completed.body.output or "")  # PII leaves the proxy redacted
    calls = read(proxy.settings, t.PROXY_CALLS, "warden.ProxyCall", lambda r: len(r) >= 1)
    assert isinstance(calls[0], ProxyCall)
    assert (calls[0].outcome.value, calls[0].reason_code, calls[0].upstream_called, calls[0].redactions) == (
        "allowed", "ok", True, 1)


def test_every_refusal_says_why_and_never_reaches_the_upstream(proxy: Proxy, upstream: Upstream) -> None:
    good = proxy.token(run="run-r")
    header, payload, signature = good.split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    expired = proxy.token(now=time.time() - 3600, ttl_s=600)
    cases: list[tuple[str | None, str, str, Any, int, str]] = [
        (None, "crm", "lookup", {"customer_id": "c"}, 401, "token_missing"),
        (expired, "crm", "lookup", {"customer_id": "c"}, 401, "token_expired"),
        (tampered, "crm", "lookup", {"customer_id": "c"}, 401, "token_tampered"),
        (proxy.token("export_report"), "payments", "refund", {"order_id": "o", "amount_usd": 5}, 403, "token_scope"),
        (good, "payments", "refund", {"order_id": "o", "amount_usd": -5}, 422, "schema_invalid"),
        (good, "email", "send", {"to": "not-an-address", "subject": "s", "body": "b"}, 422, "schema_invalid"),
        (good, "payments", "refund", {"order_id": "o", "amount_usd": 5, "memo": "x"}, 422, "schema_invalid"),
        (proxy.token("triage_ticket"), "crm", "delete_record", {"record_id": "r"}, 403, "policy_deny"),
        (proxy.token("triage_ticket"), "crm", "lookup", {"customer_id": "c"}, 403, "kill_switch"),  # stop-ship
    ]
    for token, tool, action, value, status, code in cases:
        reply = proxy.call(token, tool, action, value)
        assert (reply.status_code, reply.json()["error"]) == (status, code), (tool, action, value, reply.text)
        assert reply.json()["reason"]
    schema = proxy.call(good, "payments", "refund", {"order_id": "o", "amount_usd": -5}).json()
    assert schema["errors"] == [{"field": "input.amount_usd", "rule": "minimum",
                                 "message": "must be at least 0, got -5"}]
    assert "input.to" in proxy.call(good, "email", "send", {"to": "x", "subject": "s", "body": "b"}).json()["reason"]
    body = proxy.client.post("/v1/tools/crm/lookup", content=b'{"customer_id": "c"}',
                             headers={"Authorization": f"Bearer {good}"})
    assert (body.status_code, body.json()["error"]) == (400, "body_invalid")
    assert upstream.total == 0

    # replayed after revoke: works once, then the platform revokes it, then every replay is refused
    assert proxy.call(good, "crm", "lookup", {"customer_id": "c"}).status_code == 200
    revoked = proxy.client.post("/v1/tokens/revoke", json={"token": good, "reason": "run aborted"}, headers=ISSUER)
    assert revoked.status_code == 200, revoked.text
    replay = proxy.call(good, "crm", "lookup", {"customer_id": "c"})
    assert (replay.status_code, replay.json()["error"]) == (401, "token_revoked")
    assert upstream.total == 1

    records = read(proxy.settings, t.PROXY_CALLS, "warden.ProxyCall",
                   lambda r: sum(x.kind.value == "call" for x in r) >= len(cases) + 5)
    codes = [r.reason_code for r in records if r.kind.value == "call"]
    assert {c[-1] for c in cases} | {"body_invalid", "token_revoked", "ok"} <= set(codes)
    assert all(not r.upstream_called for r in records if r.reason_code != "ok")
    assert any(r.kind.value == "token_revoked" and r.actor == "platform@acme" for r in records)
    denied = [e for e in read(proxy.settings, t.AGENT_EVENTS, "warden.AgentEvent", lambda r: len(r) >= 8)
              if isinstance(e.body, ToolCallCompleted) and e.body.status.value == "denied"]
    # Calls that reached the policy (and out-of-scope attempts, for stop-ship and alerts) leave their two
    # events; refusals before that (token, body, lists, limits, schema) leave only their ProxyCall.
    assert {e.body.error_code for e in denied} == {"token_scope", "policy_deny", "kill_switch"}


def test_kill_switches_and_read_only_mode_refuse_before_the_upstream(proxy: Proxy, upstream: Upstream) -> None:
    token = proxy.token()
    publish(proxy.settings, ControlKind.KILL, "tenant:acme", True, "oncall@acme", "refund incident")
    wait_for(lambda: bool(proxy.service.state.evaluator.switches.active), timeout_s=30, what="the switch")
    reply = proxy.call(token, "crm", "lookup", {"customer_id": "c"})
    assert (reply.status_code, reply.json()["error"]) == (403, "kill_switch")
    assert "refund incident" in reply.json()["reason"]
    publish(proxy.settings, ControlKind.KILL, "tenant:acme", False, "oncall@acme", "fixed")
    publish(proxy.settings, ControlKind.READ_ONLY, "workflow:refund_ticket", True, "oncall@acme", "payments degraded")
    wait_for(lambda: list(proxy.service.state.evaluator.switches.active) == ["read_only:workflow:refund_ticket"],
             timeout_s=30, what="read-only mode")
    assert proxy.call(token, "crm", "lookup", {"customer_id": "c"}).status_code == 200  # read-only action
    reply = proxy.call(token, "tickets", "update", {"ticket_id": "t", "status": "solved"})
    assert (reply.status_code, reply.json()["error"]) == (403, "read_only")
    assert upstream.total == 1


def reload(proxy: Proxy, text: str) -> None:
    """Write new lists and wait until the proxy holds their version (it checks every 0.05 s here)."""
    proxy.settings.proxy_access_lists.write_text(text)
    version = hashlib.sha256(text.encode()).hexdigest()[:16]
    wait_for(lambda: proxy.service.access.current().version == version, timeout_s=30, what="the lists' reload")


def test_allow_and_deny_lists_reload_while_running(proxy: Proxy, upstream: Upstream) -> None:
    token = proxy.token()
    assert proxy.call(token, "tickets", "update", {"ticket_id": "t", "status": "open"}).status_code == 200
    reload(proxy, "tenants:\n  acme: {deny: [tickets.update]}\n")
    reply = proxy.call(token, "tickets", "update", {"ticket_id": "t", "status": "open"})
    assert (reply.status_code, reply.json()["error"]) == (403, "access_list")
    assert "deny list of tenant acme" in reply.json()["reason"]
    reload(proxy, "workflows:\n  refund_ticket: {allow: [crm]}\n")
    assert proxy.call(token, "crm", "lookup", {"customer_id": "c"}).status_code == 200
    assert proxy.call(token, "tickets", "update", {"ticket_id": "t", "status": "open"}).json()["error"] == (
        "access_list")
    assert upstream.total == 2


def test_rate_limits_answer_429_with_retry_after(topics: WardenSettings, tmp_path: Path, upstream: Upstream) -> None:
    limits = {"per_tenant": {"rate_per_s": 0.001, "burst": 3}, "per_run": {"rate_per_s": 0.001, "burst": 2},
              "per_tool": {"rate_per_s": 0.001, "burst": 5}}
    proxy = Proxy(topics, tmp_path, upstream, limits=limits)
    try:
        run_a, run_b = proxy.token(run="a"), proxy.token(run="b")
        statuses = [proxy.call(run_a, "crm", "lookup", {"customer_id": "c"}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]  # per run
        assert proxy.call(run_b, "crm", "lookup", {"customer_id": "c"}).status_code == 200
        refused = proxy.call(run_b, "crm", "lookup", {"customer_id": "c"})  # per tenant: 3 taken
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert "tenant:acme:crm" in refused.json()["reason"]
        assert proxy.call(proxy.token(tenant="globex"), "crm", "lookup", {"customer_id": "c"}).status_code == 200
        assert proxy.call(proxy.token(tenant="initech"), "crm", "lookup", {"customer_id": "c"}).status_code == 200
        refused = proxy.call(proxy.token(tenant="umbrella"), "crm", "lookup", {"customer_id": "c"})
        assert refused.status_code == 429 and "tool:crm" in refused.json()["reason"]  # per tool: 5 taken, any tenant
        assert proxy.call(proxy.token(tenant="umbrella"), "tickets", "update",
                          {"ticket_id": "t", "status": "open"}).status_code == 200  # another tool, other buckets
        assert upstream.total == 6
    finally:
        proxy.close()


def test_replicas_share_limits_and_revocations_through_the_sqlite_store(
        topics: WardenSettings, tmp_path: Path, upstream: Upstream) -> None:
    limits = {"per_tenant": {"rate_per_s": 0.001, "burst": 3}}
    store = f"sqlite://{tmp_path}/proxy-store.db"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Proxy(topics, tmp_path / "a", upstream, limits=limits, proxy_shared_store=store)
    b = Proxy(topics, tmp_path / "b", upstream, limits=limits, proxy_shared_store=store)
    try:
        token = a.token()
        statuses = [(a if i % 2 else b).call(token, "crm", "lookup", {"customer_id": "c"}).status_code
                    for i in range(6)]
        assert sorted(statuses) == [200, 200, 200, 429, 429, 429]
        other = a.token(tenant="globex")
        assert b.call(other, "crm", "lookup", {"customer_id": "c"}).status_code == 200
        assert a.client.post("/v1/tokens/revoke", json={"token": other, "reason": "leaked"},
                             headers=OPS).status_code == 200
        assert b.call(other, "crm", "lookup", {"customer_id": "c"}).json()["error"] == "token_revoked"
        assert upstream.total == 4
    finally:
        a.close()
        b.close()


def test_an_upstream_output_that_breaks_its_schema_is_an_error_not_passed_on(
        proxy: Proxy, upstream: Upstream) -> None:
    token = proxy.token()
    upstream.overrides["/payments/refund"] = (200, '{"refund_id": "r-1", "status": "s3cr3t-state", "amount_usd": 5}')
    reply = proxy.call(token, "payments", "refund", {"order_id": "o", "amount_usd": 5})
    assert (reply.status_code, reply.json()["error"]) == (502, "output_invalid")
    assert reply.json()["errors"][0]["field"] == "output.status"
    assert "s3cr3t-state" not in reply.text and "r-1" not in reply.text
    upstream.overrides["/payments/refund"] = (500, '{"detail": "boom"}')
    reply = proxy.call(token, "payments", "refund", {"order_id": "o", "amount_usd": 5})
    assert (reply.status_code, reply.json()["error"]) == (502, "upstream_error")
    assert upstream.total == 2
    done = read(proxy.settings, t.AGENT_EVENTS, "warden.AgentEvent", lambda r: len(r) >= 4)
    assert [e.body.status.value for e in done if isinstance(e.body, ToolCallCompleted)] == ["error", "error"]


def test_require_approval_waits_for_a_human(proxy: Proxy, upstream: Upstream) -> None:
    fields: dict[str, Any] = {**WardenSettings.model_dump(proxy.settings), "approver_tokens": {"dana@acme.com": "x"}}
    approvals = Approvals(ApprovalsSettings(**{k: v for k, v in fields.items() if k in ApprovalsSettings.model_fields}))
    try:
        wait_for(approvals.caught_up.is_set, timeout_s=30, what="approvals caught up")
        token = proxy.token()
        replies: list[httpx2.Response] = []

        def ask(amount: float) -> None:
            replies.append(proxy.call(token, "payments", "refund", {"order_id": "o-9", "amount_usd": amount}))

        for outcome, amount in ((ApprovalOutcome.APPROVED, 250.0), (ApprovalOutcome.REJECTED, 300.0)):
            caller = threading.Thread(target=ask, args=(amount,))
            caller.start()
            wait_for(lambda: bool(approvals.pending()), timeout_s=30, what="the approval request")
            assert upstream.total == (1 if outcome == ApprovalOutcome.REJECTED else 0)  # nothing before the human
            call_id = approvals.pending()[0]["call_id"]
            approvals.decide(call_id, "dana@acme.com", outcome, "checked the order")
            caller.join(30)
        approved, rejected = replies
        assert approved.status_code == 200, approved.text
        assert approved.json()["decision"] == "require_approval"
        assert (rejected.status_code, rejected.json()["error"]) == (403, "approval_rejected")
        assert "rejected by dana@acme.com: checked the order" in rejected.json()["reason"]
        assert upstream.total == 1
    finally:
        approvals.close()


def test_platforms_mint_tokens_over_http_and_agents_cannot(proxy: Proxy, upstream: Upstream) -> None:
    ask = {"tenant": "acme", "workflow": "refund_ticket", "run": "run-h"}
    assert proxy.client.post("/v1/tokens", json=ask).status_code == 401
    wrong = proxy.client.post("/v1/tokens", json=ask, headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "issuer_token_unknown")
    assert "not recognised" in wrong.json()["reason"]  # the tool endpoints' shape, no FastAPI "detail"
    too_long = proxy.client.post("/v1/tokens", json={**ask, "ttl_s": 7200}, headers=ISSUER)
    assert too_long.status_code == 422 and "at most 3600 s" in too_long.text
    zero = proxy.client.post("/v1/tokens", json={**ask, "ttl_s": 0}, headers=ISSUER)
    assert (zero.status_code, zero.json()["error"]) == (422, "ttl_invalid")
    unknown = proxy.client.post("/v1/tokens", json={**ask, "workflow": "nope"}, headers=ISSUER)
    assert unknown.status_code == 422
    missing = proxy.client.post("/v1/tokens", json={"tenant": "acme"}, headers=ISSUER)
    assert (missing.status_code, missing.json()["error"]) == (422, "invalid_request")
    assert {e["field"] for e in missing.json()["errors"]} == {"workflow", "run"}
    minted = proxy.client.post("/v1/tokens", json=ask, headers=ISSUER).json()
    assert minted["tools"] == ["crm.lookup", "email.send", "payments.refund", "tickets.update"]
    claims = Keyring(dict([KEY_NEW])).verify(minted["token"], minted["expires_at"] - 1)
    assert minted["key_id"] == KEY_NEW[0] and claims.expires_at - claims.issued_at == 15 * 60
    assert claims.run_id == "run-h" and claims.expires_at == minted["expires_at"]
    assert proxy.call(minted["token"], "crm", "lookup", {"customer_id": "c"}).status_code == 200


def test_an_issuer_mints_and_revokes_only_for_its_own_tenants(proxy: Proxy, upstream: Upstream) -> None:
    ask = {"tenant": "globex", "workflow": "refund_ticket", "run": "run-g"}
    refused = proxy.client.post("/v1/tokens", json=ask, headers=ISSUER)
    assert (refused.status_code, refused.json()["error"]) == (403, "issuer_tenant")
    assert "may not act for tenant 'globex'" in refused.json()["reason"]
    globex = proxy.client.post("/v1/tokens", json=ask, headers=OPS).json()["token"]
    for body in ({"token": globex}, {"tenant": "globex", "run": "run-g"},
                 {"token_id": Keyring(dict([KEY_NEW])).verify(globex, 0).token_id}):
        revoke = proxy.client.post("/v1/tokens/revoke", json={**body, "reason": "spite"}, headers=ISSUER)
        assert (revoke.status_code, revoke.json()["error"]) == (403, "issuer_tenant"), body
    assert proxy.call(globex, "crm", "lookup", {"customer_id": "c"}).status_code == 200  # not revoked
    assert proxy.client.post("/v1/tokens/revoke", json={"tenant": "globex", "run": "run-g", "reason": "done"},
                             headers=OPS).status_code == 200
    assert proxy.call(globex, "crm", "lookup", {"customer_id": "c"}).json()["error"] == "token_revoked"


def test_the_proxy_decides_as_the_stream_evaluator_does(proxy: Proxy, evaluator: PolicyEvaluator) -> None:
    """Same code, same bundle: the live policy-evaluator, fed the events the proxy emits, agrees call by call."""
    token = proxy.token("provision_access")
    calls = [("tickets", "update", {"ticket_id": "t", "status": "open"}),
             ("iam", "grant_access", {"user": "bo@acme.com", "role": "viewer"}),
             ("iam", "grant_access", {"user": "bo@acme.com", "role": "admin"})]
    ids = []
    for tool, action, value in calls:
        reply = proxy.call(token, tool, action, value, approval_timeout_s=0.5)
        ids.append(reply.json()["call_id"])
    records = read(proxy.settings, t.PROXY_CALLS, "warden.ProxyCall", lambda r: len(r) >= 3)
    mine = {r.call_id: r.decision for r in records}
    stream = read(proxy.settings, t.POLICY_DECISIONS, "warden.PolicyDecision", lambda r: len(r) >= 3)
    theirs = {d.call_id: d.decision.value for d in stream}
    assert [mine[i] for i in ids] == [theirs[i] for i in ids] == ["allow", "allow", "require_approval"]
    assert {d.policy_version for d in stream} == {proxy.service.bundle.bundle.version}


def test_no_secret_or_no_upstream_is_an_error_and_the_upstream_is_not_called(
        topics: WardenSettings, tmp_path: Path, upstream: Upstream) -> None:
    secrets = {k: v for k, v in SECRETS.items() if k != "email-api-key"}
    proxy = Proxy(topics, tmp_path, upstream, proxy_upstream_secrets=secrets)
    try:
        token = proxy.token()
        reply = proxy.call(token, "email", "send", {"to": "a@b.co", "subject": "s", "body": "b"})
        assert (reply.status_code, reply.json()["error"]) == (503, "upstream_secret_missing")
        assert upstream.total == 0
        upstream.stop()
        reply = proxy.call(token, "crm", "lookup", {"customer_id": "c"})
        assert (reply.status_code, reply.json()["error"]) == (502, "upstream_unreachable")
    finally:
        proxy.close()


def test_a_real_server_and_warden_token_revoke(proxy: Proxy, upstream: Upstream,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The same app under uvicorn on a loopback port; the CLI revokes through it."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(proxy.service), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, what="the proxy under uvicorn")
        url = f"http://127.0.0.1:{port}"
        token = proxy.token(run="run-cli")
        call = {"json": {"input": {"customer_id": "c"}}, "headers": {"Authorization": f"Bearer {token}"}}
        assert httpx.post(f"{url}/v1/tools/crm/lookup", **call).status_code == 200  # type: ignore[arg-type]
        monkeypatch.setenv("WARDEN_PROXY_URL", url)
        monkeypatch.setenv("WARDEN_PROXY_ISSUER_TOKEN", ISSUERS["platform@acme"])
        result = CliRunner().invoke(app, ["token", "revoke", "--tenant", "acme", "--run", "run-cli",
                                          "--reason", "run finished"])
        assert result.exit_code == 0, result.output
        assert "revoked run:acme/run-cli" in result.output
        replay = httpx.post(f"{url}/v1/tools/crm/lookup", **call)  # type: ignore[arg-type]
        assert (replay.status_code, replay.json()["error"]) == (401, "token_revoked")
        assert replay.headers["WWW-Authenticate"] == 'Bearer error="token_revoked"'
        assert upstream.total == 1
    finally:
        server.should_exit = True
        thread.join(10)
