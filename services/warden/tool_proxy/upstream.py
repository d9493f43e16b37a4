"""The upstream call: the real secret goes to the tool's API, never back to the agent.

Only the proxy holds the upstream secrets (WARDEN_PROXY_UPSTREAM_SECRETS). The agent's run token
is never forwarded: the upstream sees the proxy's own credential and the run named in
X-Warden-* headers. Every secret is stripped from what the upstream answers, before and after
parsing (a JSON escape can hide one from the text pass).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from warden.tool_proxy.inventory import ActionSpec, Inventory
from warden.tool_proxy.processor import Refusal
from warden.tool_proxy.tokens import TokenClaims


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0


@dataclass
class Leg:
    """What the upstream leg of one call did, for the call's records."""

    called: bool = False
    status: int | None = None
    latency_ms: float | None = None
    output: Any = None


class Upstreams:
    def __init__(self, inventory: Inventory, secrets: dict[str, str]) -> None:
        self.inventory = inventory
        self.secrets = secrets
        self.http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        # aiohttp, not httpx: httpx's async client cost about 0.6 ms per upstream call here (benchmarks/proxy.py).
        # No cookie jar: one session serves every tenant's calls, and a cookie one upstream set would ride on
        # the next tenant's call to it.
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200, limit_per_host=100),
                                          auto_decompress=True, cookie_jar=aiohttp.DummyCookieJar())

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()

    async def call(self, claims: TokenClaims, spec: ActionSpec, call_id: str, value: Any, leg: Leg) -> Refusal | None:
        """POST the validated input with the tool's secret; ``leg.output`` holds the parsed, stripped answer."""
        tool = self.inventory.tools[spec.tool]
        secret = self.secrets.get(tool.secret) if tool.secret else None
        if tool.secret and secret is None:
            return Refusal(503, "upstream_secret_missing", f"the proxy holds no secret {tool.secret!r} for "
                                                           f"{spec.tool}; the upstream was not called", error=True)
        headers = {"X-Warden-Tenant": claims.tenant_id, "X-Warden-Run": claims.run_id, "X-Warden-Call-Id": call_id}
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        assert self.http is not None, "the app's lifespan opens the upstream client"
        headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        leg.called = True
        try:
            async with self.http.post(f"{tool.upstream_url}{spec.path}", data=json.dumps(value).encode(),
                                      headers=headers, timeout=aiohttp.ClientTimeout(total=tool.timeout_s),
                                      allow_redirects=False) as response:
                status, raw = response.status, await response.read()
        except TimeoutError:
            leg.latency_ms = ms(started)
            return Refusal(504, "upstream_timeout", f"{spec.qualified} upstream did not answer within "
                                                    f"{tool.timeout_s:g} s", error=True)
        except aiohttp.ClientError as exc:
            leg.latency_ms = ms(started)
            return Refusal(502, "upstream_unreachable", f"{spec.qualified} upstream failed: {type(exc).__name__}",
                           error=True)
        leg.latency_ms = ms(started)
        leg.status = status
        if status >= 300:
            return Refusal(502, "upstream_error", f"{spec.qualified} upstream answered HTTP {status}", error=True)
        text = self.strip(raw.decode("utf-8", errors="replace"))
        try:
            leg.output = self.strip_in(json.loads(text, parse_constant=_no_constants))
        except ValueError:
            return Refusal(502, "output_invalid", f"{spec.qualified} upstream answered text that is not JSON",
                           error=True)
        return None

    def strip(self, text: str) -> str:
        """The agent never sees an upstream secret, even one an upstream echoes back."""
        for secret in self.secrets.values():
            if secret and secret in text:
                text = text.replace(secret, "[REDACTED:secret]")
        return text

    def strip_in(self, value: Any) -> Any:
        """Again after parsing: a JSON escape (``\\u0030`` for ``0``) hides a secret from the raw-text pass."""
        if isinstance(value, str):
            return self.strip(value)
        if isinstance(value, list):
            return [self.strip_in(v) for v in value]
        if isinstance(value, dict):
            return {self.strip(k): self.strip_in(v) for k, v in value.items()}
        return value
