"""``POST /v1/tools/{tool}/{action}`` as a bare ASGI handler in front of the FastAPI app (ADR 0022).

Through Starlette the route passed nine middleware layers and a router (server errors, telemetry,
body limit, exceptions, async exit stack, routing, request/response wrappers) on every tool call:
about a fifth of the proxy's CPU per call in benchmarks/proxy.py. Here the call reads its body,
runs the same pipeline (http_api.call_http) and answers the same bytes as Starlette's JSONResponse;
the call's closing records are queued right after the answer is written (pipeline.run's defer_records).
Everything else, and any request this does not match exactly as Starlette's route would, goes to
the FastAPI app unchanged; an exception propagates to uvicorn, which answers 500 as before.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from warden.tool_proxy.pipeline import Reply

PREFIX = "/v1/tools/"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
CallHttp = Callable[[str, str, str | None, bytes], Awaitable["Reply"]]


def tool_and_action(scope: Scope) -> tuple[str, str] | None:
    """The route's two path parameters, where Starlette's ``/v1/tools/{tool}/{action}`` (``[^/]+`` each)
    would match this POST; None sends the request through the FastAPI app (a root_path too: Starlette
    strips it first, and the tool route needs none)."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    tool, sep, action = path[len(PREFIX):].partition("/")
    if not tool or not sep or not action or "/" in action:
        return None
    return tool, action


def authorization(scope: Scope) -> str | None:
    """The Authorization header as Starlette's ``request.headers.get`` reads it (latin-1, the first one)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body; None when the client went away before sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def render(body: Any) -> bytes:
    """Starlette's JSONResponse.render, byte for byte."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")


async def respond(send: Send, status: int, body: Any, headers: dict[str, str]) -> None:
    content = render(body)
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw += [(b"content-length", str(len(content)).encode("latin-1")), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


async def serve(scope: Scope, receive: Receive, send: Send, call_http: CallHttp) -> bool:
    """Answer a tool call; False when the request is not one (the FastAPI app takes it)."""
    route = tool_and_action(scope)
    if route is None:
        return False
    raw = await read_body(receive)
    if raw is not None:  # else the client went away: nobody to answer, and no call was made
        reply = await call_http(route[0], route[1], authorization(scope), raw)
        try:
            await respond(send, reply.status, reply.body, reply.headers)
        finally:  # the call's closing records, once the agent has its answer (or is gone): never skipped
            reply.emit_records()
    return True
