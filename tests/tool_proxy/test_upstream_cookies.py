"""The proxy's one upstream session serves every tenant: a cookie an upstream sets must not ride on the next
call, which may be another tenant's."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from warden.tool_proxy.inventory import Inventory
from warden.tool_proxy.upstream import Upstreams


async def _calls_twice() -> list[str]:
    async def handler(request: web.Request) -> web.Response:
        response = web.json_response({"cookie": request.headers.get("Cookie", "")})
        response.set_cookie("session", "tenant-a-secret")
        return response

    app = web.Application()
    app.router.add_post("/", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    upstreams = Upstreams(Inventory(path=Path("none.toml"), version="test", tools={}), {})
    await upstreams.open()
    assert upstreams.http is not None
    try:
        seen = []
        for _ in range(2):
            # a host name: aiohttp's default jar keeps no cookies of IP addresses, so 127.0.0.1 would hide it
            async with upstreams.http.post(f"http://localhost:{server.port}/", json={}) as response:
                seen.append((await response.json())["cookie"])
        return seen
    finally:
        await upstreams.close()
        await server.close()


def test_a_cookie_one_call_got_is_not_sent_on_the_next() -> None:
    assert asyncio.run(_calls_twice()) == ["", ""]
