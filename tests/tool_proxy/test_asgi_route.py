"""The tool route in front of FastAPI (asgi_route.py): the requests Starlette's route would take, the bytes its
JSONResponse would answer, and the call's records queued even when the answer cannot be delivered."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.responses import JSONResponse
from starlette.routing import Match, Route

from tests.tool_proxy.running import Proxy, read
from warden.core import topics as t
from warden.core.events import AgentEvent, ToolCallCompleted
from warden.core.records import ProxyCall
from warden.core.settings import WardenSettings
from warden.tool_proxy import asgi_route
from warden.tool_proxy.http_api import create_app
from warden.tool_proxy.inventory import Limit
from warden.tool_proxy.limits import Bucket, MemoryStore, SqliteStore
from warden.tool_proxy.proxy import ToolProxy
from warden.tool_proxy.reference_upstream import Upstream

PATHS = ["/v1/tools/crm/lookup", "/v1/tools/crm/lookup/", "/v1/tools/crm/", "/v1/tools/crm", "/v1/tools//lookup",
         "/v1/tools/crm//lookup", "/v1/tools/crm/lookup/x", "/v1/tools/", "/v1/toolsx/crm/lookup", "/v2/tools/a/b",
         "/v1/tools/a b/c%2Fd", "/v1/tools/é/ü", "/mcp", "/v1/tokens"]


def scope(path: str, method: str = "POST", root_path: str = "", kind: str = "http") -> dict[str, Any]:
    return {"type": kind, "method": method, "path": path, "root_path": root_path, "headers": []}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["POST", "GET", "PUT"])
def test_it_takes_exactly_the_requests_starlettes_route_matches(path: str, method: str) -> None:
    route = Route("/v1/tools/{tool}/{action}", lambda request: None, methods=["POST"])
    match, child = route.matches(scope(path, method))
    expected = (child["path_params"]["tool"], child["path_params"]["action"]) if match is Match.FULL else None
    assert asgi_route.tool_and_action(scope(path, method)) == expected


def test_a_root_path_a_websocket_and_lifespan_go_to_the_fastapi_app() -> None:
    assert asgi_route.tool_and_action(scope("/p/v1/tools/crm/lookup", root_path="/p")) is None
    assert asgi_route.tool_and_action(scope("/v1/tools/crm/lookup", kind="websocket")) is None
    assert asgi_route.tool_and_action({"type": "lifespan"}) is None


@pytest.mark.parametrize("body", [{"call_id": "c", "output": {"name": "Ada Lovelace", "note": "é ✓ \u2028"},
                                   "decision": "allow", "policy_ids": []},
                                  {"error": "token_missing", "reason": "a run token is required"}, {}])
def test_it_answers_the_bytes_of_starlettes_json_response(body: dict[str, Any]) -> None:
    assert asgi_route.render(body) == JSONResponse(body).body


def test_the_authorization_header_is_read_as_starlette_reads_it() -> None:
    headers = [(b"content-type", b"application/json"), (b"authorization", b"Bearer t\xe9"),
               (b"authorization", b"Bearer second")]
    assert asgi_route.authorization({"headers": headers}) == "Bearer t\u00e9"
    assert asgi_route.authorization({"headers": []}) is None


def test_a_call_through_the_route_and_through_starlette_answer_alike(topics: WardenSettings, tmp_path: Path,
                                                                    upstream: Upstream) -> None:
    """With a root_path the app hands the call to its Starlette route: same status, headers, body and records."""
    for name in ("fast", "slow"):
        (tmp_path / name).mkdir()
    fast, slow = Proxy(topics, tmp_path / "fast", upstream), Proxy(topics, tmp_path / "slow", upstream,
                                                                   test_client=False)
    try:
        token = fast.token(run="run-both")
        replies = [fast.call(None, "crm", "lookup", {"customer_id": "c-1"}),
                   fast.call(token, "crm", "lookup", {"customer_id": "c-2"})]
        with TestClient(create_app(slow.service), root_path="/behind") as client:
            for auth in ({}, {"Authorization": f"Bearer {token}"}):
                replies.append(client.post("/behind/v1/tools/crm/lookup", json={"input": {"customer_id": "c-2"
                                           if auth else "c-1"}}, headers=auth))
    finally:
        fast.close()
        slow.close()
    refused, ok = [replies[0], replies[2]], [replies[1], replies[3]]
    assert [(r.status_code, r.headers["www-authenticate"], r.headers["content-type"]) for r in refused] == [
        (401, 'Bearer error="token_missing"', "application/json")] * 2
    assert refused[0].content == refused[1].content
    assert [(r.status_code, r.json()["decision"], r.json()["output"], r.headers["content-type"]) for r in ok] == [
        (200, "allow", ok[0].json()["output"], "application/json")] * 2
    assert all(r.headers["x-warden-call-id"] == r.json()["call_id"] for r in ok)
    calls = read(fast.settings, t.PROXY_CALLS, "warden.ProxyCall",
                 lambda r: sum(c.run_id == "run-both" for c in r) >= 2)
    assert [c.reason_code for c in calls if c.run_id == "run-both"] == ["ok", "ok"]


def test_a_call_whose_answer_cannot_be_sent_still_leaves_its_records(proxy: Proxy) -> None:
    """The closing records are queued after the answer, in a finally: a client gone mid-answer loses none."""
    token = proxy.token(run="run-gone")
    app = create_app(proxy.service)
    body = b'{"input": {"customer_id": "c-9"}}'
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message["type"])
        if message["type"] == "http.response.body":
            raise OSError("the client went away")

    request = {**scope("/v1/tools/crm/lookup"), "headers": [(b"authorization", f"Bearer {token}".encode())]}
    with pytest.raises(OSError, match="went away"):
        asyncio.run(_served(app, request, receive, send))
    assert sent == ["http.response.start", "http.response.body"]
    events = read(proxy.settings, t.AGENT_EVENTS, "warden.AgentEvent",
                  lambda r: any(isinstance(e.body, ToolCallCompleted) for e in r))
    completed = [e for e in events if isinstance(e, AgentEvent) and isinstance(e.body, ToolCallCompleted)]
    assert [(e.run_id, e.body.status.value) for e in completed if isinstance(e.body, ToolCallCompleted)] == [
        ("run-gone", "ok")]
    calls = read(proxy.settings, t.PROXY_CALLS, "warden.ProxyCall", lambda r: len(r) >= 1)
    assert [(c.run_id, c.reason_code, c.upstream_called) for c in calls if isinstance(c, ProxyCall)] == [
        ("run-gone", "ok", True)]


async def _served(app: Any, request: dict[str, Any], receive: Any, send: Any) -> None:
    await app.proxy.upstreams.open()
    try:
        await app(request, receive, send)
    finally:
        await app.proxy.upstreams.close()


def test_the_per_process_store_is_called_inline_and_sqlite_off_the_event_loop(tmp_path: Path) -> None:
    """A thread hop per store call cost more than the memory store's answer; SQLite may wait for its lock."""
    for store, inline in ((MemoryStore(), True), (SqliteStore(tmp_path / "store.db"), False)):
        ok, threads = asyncio.run(_take_in_store(store))
        assert ok and (threads[0] == threads[1]) is inline
        store.close()


async def _take_in_store(store: MemoryStore | SqliteStore) -> tuple[bool, list[int]]:
    """One take through ToolProxy.in_store; the thread it ran on, then the event loop's."""
    holder = ToolProxy.__new__(ToolProxy)  # only in_store and its store: no broker needed
    holder.store = store
    threads: list[int] = []

    def take(buckets: list[Bucket], now: float) -> bool:
        threads.append(threading.get_ident())
        return store.take(buckets, now).ok

    ok = await holder.in_store(take, [Bucket("run:a", Limit(rate_per_s=1.0, burst=5.0))], 0.0)
    return ok, [*threads, threading.get_ident()]
