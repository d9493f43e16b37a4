"""The floor under the tool proxy's overhead: the same HTTP hop with nothing else in it.

uvicorn (httptools, uvloop, as `warden run tool-proxy` runs) serving a bare ASGI handler that forwards
the call's input to the upstream with aiohttp (one session, as warden.tool_proxy.upstream does) and
answers its output in the proxy's envelope. No token, checks, policy or records: benchmarks/proxy.py
interleaves it with the direct and the proxied call, so the overhead the checks and records add is
what remains above this one's.

    python benchmarks/bare_forwarder.py PORT UPSTREAM_URL
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def app_for(upstream: str) -> Callable[[Scope, Callable[[], Awaitable[Message]],
                                        Callable[[Message], Awaitable[None]]], Awaitable[None]]:
    state: dict[str, aiohttp.ClientSession] = {}

    async def app(scope: Scope, receive: Callable[[], Awaitable[Message]],
                  send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["http"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200,
                                                                                         limit_per_host=100))
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await state["http"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["method"] != "POST" or not scope["path"].startswith("/v1/tools/"):
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        value = json.loads(b"".join(chunks))["input"]
        headers = {"Authorization": "Bearer sk-bench-crm-0123456789", "Content-Type": "application/json"}
        path = scope["path"].removeprefix("/v1/tools")
        async with state["http"].post(f"{upstream}{path}", data=json.dumps(value).encode(), headers=headers) as r:
            output = json.loads(await r.read())
        body = json.dumps({"output": output}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    uvicorn.run(app_for(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
