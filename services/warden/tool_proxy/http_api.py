"""The tool proxy's HTTP app: ``POST /v1/tools/{tool}/{action}`` for agents, the token API for
platforms, ``/health``, ``/metrics`` (Prometheus), and the MCP endpoint ``/mcp`` (mcp_gateway.py) on the same port.

The tool route reads the run token itself, in the pipeline's first check, rather than through a
FastAPI dependency: a refused token must leave its ProxyCall like every other refusal, and
FastAPI's parameter resolution is measurable on the hot path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from warden.core import jsontext
from warden.runtime.metrics import render
from warden.tool_proxy import asgi_route, pipeline
from warden.tool_proxy.mcp_gateway import McpGateway
from warden.tool_proxy.pipeline import Call, Reply
from warden.tool_proxy.processor import Refusal
from warden.tool_proxy.proxy import ToolProxy
from warden.tool_proxy.token_api import token_router
from warden.tool_proxy.tokens import TokenError

# `call_id` is the agent's own reference, echoed back as client_call_id; the proxy names every call itself
# (an agent-chosen id could replay a past approval or collide in the ledger). `step` is accepted for
# compatibility and ignored: the proxy numbers a run's steps itself.
_ENVELOPE = {"input", "resource", "step", "call_id", "approval_timeout_s"}


def envelope(raw: bytes) -> tuple[dict[str, Any], Refusal | None]:
    """The request body: {"input": {...}, "resource"?, "step"?, "call_id"?, "approval_timeout_s"?}."""
    try:
        # The strict reader of warden.core.jsontext: a duplicate key, NaN or nesting past the limit is a 400,
        # never a parser differential or a RecursionError (500).
        data = jsontext.loads(raw.decode("utf-8") if raw else "null", "the request body", "record_bytes")
    except (ValueError, UnicodeDecodeError) as exc:
        return {}, Refusal(400, "body_invalid", f"the request body is not JSON: {exc}")
    if not isinstance(data, dict):
        return {}, Refusal(400, "body_invalid", 'the request body must be a JSON object {"input": {...}}')
    unknown = sorted(set(data) - _ENVELOPE)
    if unknown:
        return data, Refusal(400, "body_invalid", f"unknown field{'s' if len(unknown) > 1 else ''} "
                                                  f"{', '.join(unknown)} in the request (allowed: "
                                                  f"{', '.join(sorted(_ENVELOPE))}); the tool's input goes in "
                                                  "`input`")
    if "input" not in data:
        return data, Refusal(400, "body_invalid", 'the request needs the tool\'s input as {"input": {...}}')
    for name, kind in (("resource", str), ("call_id", str)):
        if data.get(name) is not None and not isinstance(data[name], kind):
            return {k: v for k, v in data.items() if k != name}, Refusal(
                400, "body_invalid", f"{name} must be a string, got {data[name]!r:.60}")
    return data, None


async def call_http(proxy: ToolProxy, tool: str, action: str, authorization: str | None, raw: bytes,
                    defer_records: bool = False) -> Reply:
    """``defer_records``: the caller queues ``Reply.records`` once it has answered (pipeline.run)."""
    call = Call(tool, action, authorization)
    data, call.invalid = envelope(raw)
    call.value, call.resource = data.get("input"), data.get("resource")
    call.client_ref = data.get("call_id") if isinstance(data.get("call_id"), str) else None
    call.approval_timeout_s = data.get("approval_timeout_s")
    return await pipeline.run(proxy, call, defer_records=defer_records)


class ProxyApp(FastAPI):
    """FastAPI with the tool route served in front of its middleware (asgi_route.py, ADR 0022)."""

    proxy: ToolProxy

    async def __call__(self, scope: asgi_route.Scope, receive: asgi_route.Receive, send: asgi_route.Send) -> None:
        if not await asgi_route.serve(scope, receive, send, self.tool_call):
            await super().__call__(scope, receive, send)

    async def tool_call(self, tool: str, action: str, authorization: str | None, raw: bytes) -> Reply:
        return await call_http(self.proxy, tool, action, authorization, raw, defer_records=True)


def create_app(proxy: ToolProxy) -> ProxyApp:
    gateway = McpGateway(proxy)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await proxy.upstreams.open()
            stack.push_async_callback(proxy.upstreams.close)
            await stack.enter_async_context(gateway.running())
            yield

    app = ProxyApp(title="Warden tool proxy", version="0.1.0", lifespan=lifespan)
    app.proxy = proxy

    # The token endpoints refuse the way the tool endpoints do: {"error": <code>, "reason": ...}.
    @app.exception_handler(TokenError)
    async def refused(request: Request, exc: TokenError) -> JSONResponse:
        return JSONResponse({"error": exc.code, "reason": str(exc)}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(part) for part in e["loc"] if part != "body"), "rule": e["type"],
                   "message": e["msg"]} for e in exc.errors()]
        return JSONResponse({"error": "invalid_request", "reason": "; ".join(f"{e['field']}: {e['message']}"
                                                                            for e in errors), "errors": errors}, 422)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "inventory": proxy.inventory.version, "policy_version": proxy.bundle.bundle.version,
                "access_lists": proxy.access.lists.version, "undelivered_records": proxy.undelivered,
                "store": proxy.store.mode, "shared_store": proxy.store.mode != "memory"}

    @app.get("/metrics")
    def metrics() -> Response:
        body, content_type = render()
        return Response(body, media_type=content_type)

    async def call_tool(request: Request) -> JSONResponse:
        """The same call through Starlette, for what ProxyApp passes on (a root_path)."""
        params = request.path_params
        reply = await call_http(proxy, params["tool"], params["action"], request.headers.get("authorization"),
                                await request.body())
        return JSONResponse(reply.body, reply.status, reply.headers)

    app.router.add_route("/v1/tools/{tool}/{action}", call_tool, methods=["POST"])
    app.include_router(token_router(proxy))
    gateway.mount(app)
    return app
