"""The tool proxy's MCP endpoint, driven by the official MCP client (mcp.client.streamable_http +
ClientSession) against the real proxy under uvicorn, the real broker, approvals service and upstream.

Both revisions the SDK serves: 2026-07-28 (``discover``) and 2025-11-25 (``initialize``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
import uvicorn
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from tests.ledger_sink.helpers import wait_for
from tests.tool_proxy.helpers import ISSUERS, SECRETS
from tests.tool_proxy.running import Proxy, read
from tests.tool_proxy.test_service_attacks import approvals_for
from warden.broker.tansu import free_port
from warden.core import topics as t
from warden.core.events import ToolCallCompleted, ToolCallRequested
from warden.core.records import ApprovalOutcome, ProxyCall
from warden.core.settings import WardenSettings
from warden.tool_proxy.http_api import create_app
from warden.tool_proxy.reference_upstream import Upstream

pytestmark = pytest.mark.integration
ERAS = ["2026-07-28", "2025-11-25"]


@contextmanager
def served(topics: WardenSettings, tmp_path: Path, upstream: Upstream, **extra: Any) -> Iterator[Proxy]:
    """A proxy whose app runs under uvicorn on a loopback port (``proxy.settings.proxy_url``)."""
    port = free_port()
    proxy = Proxy(topics, tmp_path, upstream, test_client=False, proxy_url=f"http://127.0.0.1:{port}", **extra)
    server = uvicorn.Server(uvicorn.Config(create_app(proxy.service), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, what="the proxy under uvicorn")
        yield proxy
    finally:
        server.should_exit = True
        thread.join(10)
        proxy.close()


@asynccontextmanager
async def mcp_session(proxy: Proxy, token: str, era: str) -> AsyncIterator[ClientSession]:
    url = f"{proxy.settings.proxy_url}/mcp"
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http, \
            streamable_http_client(url, http_client=http) as (read_stream, write_stream), \
            ClientSession(read_stream, write_stream) as session:
        if era in MODERN_PROTOCOL_VERSIONS:
            await session.discover()
        else:
            await session.initialize()
        assert session.protocol_version == era
        yield session


def body(result: types.CallToolResult) -> dict[str, Any]:
    """A refusal's body: the HTTP proxy's, as the tool result's text."""
    assert result.is_error, result
    text = result.content[0]
    assert isinstance(text, types.TextContent)
    parsed: dict[str, Any] = json.loads(text.text)
    return parsed


@pytest.mark.parametrize("era", ERAS)
def test_tools_list_shows_only_the_runs_tools_with_their_strict_schemas(
        topics: WardenSettings, tmp_path: Path, upstream: Upstream, era: str) -> None:
    with served(topics, tmp_path, upstream) as proxy:
        (tmp_path / "access.yaml").write_text("tenants:\n  acme: {deny: [tickets.update]}\n")
        wait_for(lambda: proxy.service.access.current().version != "none", timeout_s=30, what="the lists")

        async def scenario() -> tuple[list[types.Tool], list[str]]:
            async with mcp_session(proxy, proxy.token("refund_ticket"), era) as session:
                refund = (await session.list_tools()).tools
            async with mcp_session(proxy, proxy.token("export_report"), era) as session:
                export = [tool.name for tool in (await session.list_tools()).tools]
            return refund, export

        refund, export = asyncio.run(scenario())
    # refund_ticket's tools (workflows.toml) less the one acme's deny list takes away
    assert [tool.name for tool in refund] == ["crm.lookup", "email.send", "payments.refund"]
    assert export == ["email.send", "reports.export"]
    lookup = {tool.name: tool for tool in refund}["crm.lookup"]
    assert lookup.input_schema["additionalProperties"] is False and lookup.input_schema["required"] == ["customer_id"]
    assert lookup.output_schema is not None and lookup.output_schema["additionalProperties"] is False
    assert lookup.annotations is not None and lookup.annotations.read_only_hint is True


@pytest.mark.parametrize("era", ERAS)
def test_tools_call_goes_through_the_proxys_checks_and_leaves_its_rows(
        topics: WardenSettings, tmp_path: Path, upstream: Upstream, era: str) -> None:
    with served(topics, tmp_path, upstream) as proxy:
        token = proxy.token(run="run-mcp")
        upstream.overrides["/tickets/update"] = (200, '{"ticket_id": "t", "status": "s3cr3t-state"}')

        async def scenario() -> dict[str, types.CallToolResult]:
            out = {}
            async with mcp_session(proxy, token, era) as session:
                await session.list_tools()  # the client validates structured output against the listed schema
                out["allowed"] = await session.call_tool("crm.lookup", {"customer_id": "c-1"})
                out["schema"] = await session.call_tool("payments.refund", {"order_id": "o", "amount_usd": -5})
                out["unknown_field"] = await session.call_tool("crm.lookup", {"customer_id": "c", "x": 1})
                out["scope"] = await session.call_tool("iam.grant_access", {"user": "a@b.co", "role": "admin"})
                out["output"] = await session.call_tool("tickets.update", {"ticket_id": "t", "status": "open"})
            async with mcp_session(proxy, proxy.token("triage_ticket", run="run-mcp-deny"), era) as session:
                out["deny"] = await session.call_tool("crm.delete_record", {"record_id": "r"})
            return out

        results = asyncio.run(scenario())
        allowed = results["allowed"]
        assert not allowed.is_error and allowed.structured_content is not None
        assert allowed.structured_content["customer_id"] == "c-1"
        assert allowed.meta is not None and allowed.meta["warden/call"]["decision"] == "allow"
        assert (body(results["schema"])["error"], body(results["schema"])["errors"]) == ("schema_invalid", [
            {"field": "input.amount_usd", "rule": "minimum", "message": "must be at least 0, got -5"}])
        assert body(results["unknown_field"])["error"] == "schema_invalid"
        assert body(results["scope"])["error"] == "token_scope"
        assert body(results["deny"])["error"] == "policy_deny"
        output = body(results["output"])
        assert output["error"] == "output_invalid" and "s3cr3t-state" not in json.dumps(output)
        # The upstream saw the proxy's secret, never the run token; only the two calls that passed reached it.
        assert upstream.total == 2
        assert upstream.authorizations == [f"Bearer {SECRETS['crm-api-key']}", f"Bearer {SECRETS['tickets-api-key']}"]

        calls = read(proxy.settings, t.PROXY_CALLS, "warden.ProxyCall", lambda r: len(r) >= 6)
        assert all(isinstance(c, ProxyCall) for c in calls)
        mine = {c.call_id: c for c in calls}
        for result in results.values():
            assert result.meta is not None
            record = mine[result.meta["warden/call"]["call_id"]]
            assert record.status_code == result.meta["warden/call"]["status"]
        assert sorted(c.reason_code for c in calls) == sorted(
            ["ok", "schema_invalid", "schema_invalid", "token_scope", "output_invalid", "policy_deny"])
        events = read(proxy.settings, t.AGENT_EVENTS, "warden.AgentEvent", lambda r: len(r) >= 8)
        requested = [e for e in events if isinstance(e.body, ToolCallRequested)]
        completed = {e.body.tool: e.body.status.value for e in events if isinstance(e.body, ToolCallCompleted)}
        # As over HTTP: calls that reached the policy, and the out-of-scope attempt, leave their two events.
        assert sorted(e.body.tool for e in requested) == ["crm", "crm", "iam", "tickets"]
        assert completed["tickets"] == "error" and completed["iam"] == "denied"


def test_an_approval_wait_is_handed_back_as_input_required_and_the_retry_completes_it(
        topics: WardenSettings, tmp_path: Path, upstream: Upstream) -> None:
    """2026-07-28: the call answers input_required with a requestState; retried after the human approves,
    it completes as one call (one approval request, one pair of events)."""
    with served(topics, tmp_path, upstream, proxy_mcp_approval_poll_s=0.3) as proxy:
        approvals = approvals_for(proxy.settings)
        try:
            async def scenario() -> tuple[list[dict[str, Any]], types.CallToolResult]:
                async with mcp_session(proxy, proxy.token(run="run-appr"), ERAS[0]) as session:
                    args = {"order_id": "o-9", "amount_usd": 250.0}
                    first = await session.call_tool("payments.refund", args, allow_input_required=True)
                    assert isinstance(first, types.InputRequiredResult) and first.request_state
                    again = await session.call_tool("payments.refund", args, request_state=first.request_state,
                                                    allow_input_required=True)  # not decided yet: still waiting
                    assert isinstance(again, types.InputRequiredResult) and again.request_state
                    with pytest.raises(MCPError):  # the state is bound to the call's tool and arguments
                        await session.call_tool("payments.refund", {**args, "amount_usd": 99_999.0},
                                                request_state=again.request_state, allow_input_required=True)
                    pending = await asyncio.to_thread(approvals.pending)
                    assert upstream.total == 0  # nothing before the human
                    await asyncio.to_thread(approvals.decide, pending[0]["call_id"], "dana@acme.com",
                                            ApprovalOutcome.APPROVED, "checked the order")
                    done = await session.call_tool("payments.refund", args, request_state=again.request_state,
                                                   allow_input_required=True)
                    assert isinstance(done, types.CallToolResult)
                    return pending, done

            pending, done = asyncio.run(scenario())
            assert len(pending) == 1
            assert not done.is_error and done.structured_content is not None
            assert done.meta is not None and done.meta["warden/call"]["decision"] == "require_approval"
            assert done.meta["warden/call"]["call_id"] == pending[0]["call_id"]
            assert upstream.total == 1
            events = read(proxy.settings, t.AGENT_EVENTS, "warden.AgentEvent", lambda r: len(r) >= 2)
            assert [type(e.body).__name__ for e in events] == ["ToolCallRequested", "ToolCallCompleted"]
            requests = read(proxy.settings, t.APPROVAL_REQUESTS, "warden.PolicyDecision", lambda r: len(r) >= 1)
            assert [r.call_id for r in requests] == [pending[0]["call_id"]]
        finally:
            approvals.close()


@pytest.mark.parametrize("era", ERAS)
def test_the_sdk_client_waits_out_an_approval_by_itself(
        topics: WardenSettings, tmp_path: Path, upstream: Upstream, era: str) -> None:
    """The SDK's own retry loop (2026-07-28) or an inline wait (2025-11-25); the human rejects this one."""
    with served(topics, tmp_path, upstream, proxy_mcp_approval_poll_s=0.3) as proxy:
        approvals = approvals_for(proxy.settings)
        try:
            def reject() -> None:
                wait_for(lambda: bool(approvals.pending()), timeout_s=30, what="the approval request")
                approvals.decide(approvals.pending()[0]["call_id"], "dana@acme.com", ApprovalOutcome.REJECTED,
                                 "order already refunded")

            human = threading.Thread(target=reject)
            human.start()

            async def scenario() -> types.CallToolResult:
                url = f"{proxy.settings.proxy_url}/mcp"
                headers = {"Authorization": f"Bearer {proxy.token(run='run-rej')}"}
                async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
                    client = Client(streamable_http_client(url, http_client=http), input_required_max_rounds=200,
                                    mode="auto" if era in MODERN_PROTOCOL_VERSIONS else "legacy")
                    async with client:
                        assert client.protocol_version == era
                        return await client.call_tool("payments.refund", {"order_id": "o-9", "amount_usd": 300.0})

            result = asyncio.run(scenario())
            human.join(30)
        finally:
            approvals.close()
    refused = body(result)
    assert refused["error"] == "approval_rejected" and "order already refunded" in refused["reason"]
    assert upstream.total == 0


def test_a_call_whose_client_never_comes_back_ends_timed_out_with_its_records(
        topics: WardenSettings, tmp_path: Path, upstream: Upstream) -> None:
    with served(topics, tmp_path, upstream, proxy_mcp_approval_poll_s=0.2, proxy_approval_timeout_s=0.6) as proxy:
        async def scenario() -> None:
            async with mcp_session(proxy, proxy.token(run="run-gone"), ERAS[0]) as session:
                args = {"order_id": "o-9", "amount_usd": 250.0}
                first = await session.call_tool("payments.refund", args, allow_input_required=True)
                assert isinstance(first, types.InputRequiredResult)
                # the client walks away; the proxy finishes the call at its deadline (plus a retry's grace)
                done = read(proxy.settings, t.AGENT_EVENTS, "warden.AgentEvent", lambda r: len(r) >= 2)
                completed = done[-1].body
                assert isinstance(completed, ToolCallCompleted)
                assert (completed.status.value, completed.error_code) == ("denied", "approval_timeout")
                with pytest.raises(MCPError, match="not waiting on this replica"):
                    await session.call_tool("payments.refund", args, request_state=first.request_state,
                                            allow_input_required=True)

        asyncio.run(scenario())
        calls = read(proxy.settings, t.PROXY_CALLS, "warden.ProxyCall", lambda r: len(r) >= 1)
        assert [(c.reason_code, c.upstream_called) for c in calls] == [("approval_timeout", False)]
        assert "did not retry the call" in calls[0].reason
    assert upstream.total == 0


def test_the_token_is_an_oauth_bearer_token_for_this_resource(topics: WardenSettings, tmp_path: Path,
                                                               upstream: Upstream) -> None:
    with served(topics, tmp_path, upstream) as proxy:
        base = proxy.settings.proxy_url
        metadata = httpx2.get(f"{base}/.well-known/oauth-protected-resource/mcp")
        assert metadata.status_code == 200, metadata.text
        assert metadata.json()["resource"] == f"{base}/mcp"
        assert metadata.json()["authorization_servers"] == [f"{base}/"]  # the proxy's /v1/tokens mints them
        assert metadata.json()["bearer_methods_supported"] == ["header"]
        probe = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        missing = httpx2.post(f"{base}/mcp", json=probe, headers={"Accept": "application/json, text/event-stream"})
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"] == (
            f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"')
        assert missing.json()["error"] == "token_missing"
        token = proxy.token(run="run-revoked")
        assert httpx2.post(f"{base}/v1/tokens/revoke", json={"token": token, "reason": "run aborted"},
                           headers={"Authorization": f"Bearer {ISSUERS['ops@warden']}"}).status_code == 200
        revoked = httpx2.post(f"{base}/mcp", json=probe, headers={"Authorization": f"Bearer {token}",
                                                                   "Accept": "application/json, text/event-stream"})
        assert revoked.status_code == 401 and revoked.json()["error"] == "token_revoked"
        assert revoked.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token", error_description=')

        async def refused() -> None:
            async with mcp_session(proxy, token, ERAS[0]):
                pass

        with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces the 401 its own way
            asyncio.run(refused())
        records = read(proxy.settings, t.PROXY_CALLS, "warden.ProxyCall",
                       lambda r: sum(c.reason_code == "token_revoked" and c.kind.value == "call" for c in r) >= 1)
        assert any(c.reason_code == "token_missing" and c.tool == "*" for c in records)
