"""The tool proxy as an MCP server: ``/mcp`` over Streamable HTTP, with the official ``mcp`` SDK.

Revisions: 2026-07-28 (stateless per-request envelope, ``server/discover``) and the
initialize-handshake revisions up to 2025-11-25, as the SDK serves them side by side.

- ``tools/list``: the tools the run token's workflow may call (its token scope, from
  workflows.toml, that the inventory defines and the allow/deny lists let through), each named
  ``tool.action`` with the inventory's strict input and output schemas.
- ``tools/call``: pipeline.run, the very checks and records of ``POST /v1/tools/...``. A refusal is
  a tool result with ``isError`` and the HTTP refusal's body, so a model reads the reason and can
  correct itself; the ledger rows are the same as over HTTP.
- An approval wait: on 2026-07-28 the call is held up to ``proxy_mcp_approval_poll_s``, then
  answered ``input_required`` with only a ``requestState`` (SEP-2322 multi round-trip; the SDK's
  client driver retries such a result by itself, with backoff). The retry carries the state back,
  passes the token check again and resumes the same call at its approval: one call, one approval
  request, one pair of events. The state is sealed by the SDK (AES-GCM, bound to the tool, its
  arguments and the run) and names a call this replica holds in memory: a retry that reaches
  another replica, or this one after a restart, is refused, and the agent calls again. A call
  whose client never comes back is finished as timed out at its approval deadline. On the
  handshake revisions (no input_required there) the call waits inline, as over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import mcp_types as types
from fastapi import FastAPI
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.caching import CacheHint
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import AnyHttpUrl
from starlette.routing import Route

from warden.tool_proxy import pipeline
from warden.tool_proxy.inventory import ActionSpec
from warden.tool_proxy.mcp_auth import BearerGate
from warden.tool_proxy.pipeline import ApprovalPending, Call, Reply
from warden.tool_proxy.proxy import ToolProxy
from warden.tool_proxy.tokens import TokenClaims, TokenError

PATH = "/mcp"
NAME = "warden-tool-proxy"
META = "warden/call"  # the _meta key of every tools/call result: call id, HTTP-equivalent status, decision
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def tool_of(spec: ActionSpec, description: str) -> types.Tool:
    return types.Tool(name=spec.qualified, description=description or None,
                      input_schema=spec.input_schema, output_schema=spec.output_schema,
                      annotations=types.ToolAnnotations(read_only_hint=spec.read_only))


def result_of(reply: Reply) -> types.CallToolResult:
    """The pipeline's answer as a tool result; the body is the HTTP route's, byte for byte."""
    meta = {META: {"status": reply.status, **{k: v for k, v in reply.body.items() if k != "output"}}}
    if reply.status == 200:
        output = reply.body["output"]
        return types.CallToolResult(content=[types.TextContent(text=json.dumps(output, ensure_ascii=False))],
                                    structured_content=output, _meta=meta)
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(reply.body, ensure_ascii=False))],
                                is_error=True, _meta=meta)


class McpGateway:
    def __init__(self, proxy: ToolProxy) -> None:
        self.proxy = proxy
        settings = proxy.settings
        self.poll_s = settings.proxy_mcp_approval_poll_s
        self.parked: dict[str, Call] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.server: Server[Any] = Server(
            NAME, version="0.1.0", title="Warden tool proxy",
            instructions="Tools of this run's workflow, called through Warden's checks: a refusal is a result "
                         "with isError and the reason; a call that needs a human's approval may answer "
                         "input_required, retry it with its requestState.",
            cache_hints={"tools/list": CacheHint(ttl_ms=0, scope="private")},  # the list depends on the token
            get_tool_input_schema=self._input_schema, on_list_tools=self._list_tools, on_call_tool=self._call_tool)
        # The state names a parked call of this process: a key of this process is enough.
        security = RequestStateSecurity(keys=[os.urandom(32)], ttl=settings.proxy_approval_timeout_s + 120,
                                        bind_principal=self._principal)
        self.server.middleware.append(RequestStateBoundary(security, default_audience=NAME))
        host = settings.proxy_host
        self.manager = StreamableHTTPSessionManager(
            app=self.server, stateless=True, json_response=True,  # no session to stick to a replica
            security_settings=TransportSecuritySettings(
                enable_dns_rebinding_protection=True, allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
                allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"])
            if host in _LOOPBACK else None)
        self.resource_url = settings.mcp_resource_url
        self.metadata_url = str(build_resource_metadata_url(AnyHttpUrl(self.resource_url)))

    def mount(self, app: FastAPI) -> None:
        gate = BearerGate(StreamableHTTPASGIApp(self.manager), self.proxy, self.resource_url, self.metadata_url)
        app.router.routes.append(Route(PATH, endpoint=gate))
        app.router.routes.extend(create_protected_resource_routes(
            resource_url=AnyHttpUrl(self.resource_url),
            authorization_servers=[AnyHttpUrl(self.proxy.settings.mcp_authorization_server)],
            resource_name="Warden tool proxy (MCP)"))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.manager.run():
            try:
                yield
            finally:
                for handle in self._timers.values():
                    handle.cancel()

    # ---- handlers ------------------------------------------------------------------------------------

    async def _claims(self, ctx: ServerRequestContext[Any, Any]) -> TokenClaims:
        """The run token of this very request (the gate checked it; checked again: it may be revoked since)."""
        try:
            return await self.proxy.verify(_authorization(ctx), time.time())
        except TokenError as exc:
            raise MCPError(code=types.INVALID_REQUEST, message=f"{exc.code}: {exc}") from exc

    def _principal(self, ctx: ServerRequestContext[Any, Any]) -> str | None:
        """Sealed request state is bound to the run: only a token for the same run can resume the call."""
        claims = self.proxy.decode(_authorization(ctx), time.time())
        return f"{claims.tenant_id}/{claims.run_id}"

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        tool, _, action = name.partition(".")
        spec = self.proxy.inventory.action(tool, action)
        return spec.input_schema if spec is not None else None

    async def _list_tools(self, ctx: ServerRequestContext[Any, Any],
                          params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        claims = await self._claims(ctx)
        inventory, lists = self.proxy.inventory, self.proxy.access.current()
        tools = []
        for name in sorted(claims.tools):
            tool, _, action = name.partition(".")
            spec = inventory.action(tool, action)
            if spec is None or lists.refusal(claims.tenant_id, claims.workflow, tool, action) is not None:
                continue
            tools.append(tool_of(spec, inventory.tools[tool].description))
        return types.ListToolsResult(tools=tools)

    async def _call_tool(self, ctx: ServerRequestContext[Any, Any],
                         params: types.CallToolRequestParams) -> types.CallToolResult | types.InputRequiredResult:
        authorization = _authorization(ctx)
        modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
        if params.request_state is not None:
            return await self._resume(params.request_state, params.name, authorization)
        tool, _, action = params.name.partition(".")
        call = Call(tool, action, authorization, value=params.arguments,
                    suspend_after_s=self.poll_s if modern else None)
        try:
            return result_of(await pipeline.run(self.proxy, call))
        except ApprovalPending as pending:
            return self._park(pending.call)

    # ---- approval waits handed back to the client (2026-07-28) ---------------------------------------

    def _park(self, call: Call) -> types.InputRequiredResult:
        self.parked[call.call_id] = call
        # A retry on its way when the deadline passes still gets its answer: the SDK's client retries a
        # state-only input_required within 0.25 s, and a round is held at most poll_s.
        grace = 2 * self.poll_s + 1.0
        delay = max(0.0, call.approval_deadline - time.monotonic()) + grace
        self._timers[call.call_id] = asyncio.get_running_loop().call_later(delay, self._abandon, call.call_id)
        return types.InputRequiredResult(request_state=call.call_id)

    def _unpark(self, call_id: str) -> Call | None:
        handle = self._timers.pop(call_id, None)
        if handle is not None:
            handle.cancel()
        return self.parked.pop(call_id, None)

    def _abandon(self, call_id: str) -> None:
        """The client never came back for the call: it ends denied, with its records, and nothing is called."""
        call = self._unpark(call_id)
        if call is None or call.decision is None:
            return
        self.proxy.approvals.forget(call.decision.call_id)
        pipeline.finish(self.proxy, call, pipeline.approval_timeout(
            call, ", the MCP client did not retry the call with its requestState"))

    async def _resume(self, call_id: str, name: str, authorization: str | None) -> types.CallToolResult | \
            types.InputRequiredResult:
        call = self._unpark(call_id)
        if call is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"call {call_id} is not waiting on this replica (it "
                           "finished, timed out, or was asked of another replica or before a restart): call the "
                           "tool again without requestState")
        fresh = Call(call.tool, call.action, authorization)
        refusal = await pipeline.check_token(self.proxy, fresh)
        if refusal is not None:  # the call keeps waiting for a retry with a good token
            self._park(call)
            return result_of(pipeline.refused_unscoped(self.proxy, fresh, refusal))
        assert fresh.claims is not None and call.claims is not None
        if (fresh.claims.tenant_id, fresh.claims.run_id) != (call.claims.tenant_id, call.claims.run_id) or \
                name != f"{call.tool}.{call.action}":
            self._park(call)
            raise MCPError(code=types.INVALID_PARAMS, message=f"requestState of call {call_id} belongs to another "
                           "run or tool")
        try:
            return result_of(await pipeline.run(self.proxy, call, start="approval"))
        except ApprovalPending:
            return self._park(call)


def _authorization(ctx: ServerRequestContext[Any, Any]) -> str | None:
    request = ctx.request
    headers = getattr(request, "headers", None)
    return headers.get("authorization") if headers is not None else None
