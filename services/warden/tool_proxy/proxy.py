"""The tool proxy's parts, wired once per process: inventory, lists, bundle, limits store, tokens,
switches, the approval follower, the upstreams and the record emitter.

pipeline.py runs a call through them; http_api.py, token_api.py and mcp_gateway.py are the doors.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import Producer

from warden.core.switches import Switches
from warden.kafka.control import ControlView
from warden.policy.bundle import BundleWatcher
from warden.runtime.metrics import EXPOSITION, expose
from warden.tool_proxy import processor as p
from warden.tool_proxy.access import AccessWatcher
from warden.tool_proxy.approvals_wait import ApprovalFollower
from warden.tool_proxy.emitter import Emitter
from warden.tool_proxy.inventory import Inventory, load_inventory
from warden.tool_proxy.limits import Store, open_store
from warden.tool_proxy.settings import ToolProxySettings
from warden.tool_proxy.tokens import Keyring, TokenClaims, TokenError
from warden.tool_proxy.upstream import Upstreams

log = logging.getLogger("warden.tool_proxy")
T = TypeVar("T")
BEARER = "Bearer "


def keyring_for(settings: ToolProxySettings) -> Keyring:
    return Keyring({kid: key.get_secret_value() for kid, key in settings.proxy_signing_keys.items()},
                   settings.proxy_signing_key_id)


class ToolProxy:
    def __init__(self, settings: ToolProxySettings, switches: Switches | None = None) -> None:
        """``switches``: a fixed view for tests of the pure path; by default the control topic is followed."""
        self.settings = settings
        self.inventory: Inventory = load_inventory(settings.proxy_inventory)
        self.keyring = keyring_for(settings)
        self.store: Store = open_store(settings.proxy_shared_store)
        self.access = AccessWatcher(settings.proxy_access_lists, settings.proxy_reload_interval_s)
        self.bundle = BundleWatcher(settings.policies_dir)
        self.upstreams = Upstreams(self.inventory, {name: s.get_secret_value()
                                                    for name, s in settings.proxy_upstream_secrets.items()})
        self.state = p.ProxyState()
        self.lock = threading.Lock()
        self._control = ControlView(settings) if switches is None else None
        self.state.evaluator.switches = self._control.switches if self._control else (switches or Switches())
        self.approvals = ApprovalFollower(settings)
        self.emitter = Emitter(settings)
        self.metrics = expose(self.emitter.families)
        self._tokens: OrderedDict[str, TokenClaims] = OrderedDict()
        self._last_bundle_check = time.monotonic()
        missing = sorted(self.inventory.secrets - set(self.upstreams.secrets))
        if missing:
            log.warning("no upstream secret configured for %s (WARDEN_PROXY_UPSTREAM_SECRETS): calls to those "
                        "tools are refused with 503", ", ".join(missing))
        if not self.keyring.keys:
            log.warning("no token signing keys (WARDEN_PROXY_SIGNING_KEYS): every call is refused with 401")
        if not settings.proxy_shared_store:
            log.warning("no shared store (WARDEN_PROXY_SHARED_STORE): rate limits and token revocations hold in "
                        "this process only; with several replicas a revoked token still works on the others")

    @property
    def producer(self) -> Producer:
        return self.emitter.producer

    @property
    def undelivered(self) -> int:
        return self.emitter.undelivered

    # ---- run tokens ----------------------------------------------------------------------------------

    async def verify(self, authorization: str | None, now: float) -> TokenClaims:
        """The token's claims, unless the token or its run was revoked."""
        claims = self.decode(authorization, now)
        keys = [f"token:{claims.token_id}", f"run:{claims.tenant_id}/{claims.run_id}"]
        if await self.in_store(self.store.revoked, keys, now):
            raise TokenError("token_revoked", f"token {claims.token_id} (run {claims.run_id}) was revoked")
        return claims

    async def in_store(self, fn: Callable[..., T], *args: object) -> T:
        """A store call: off the event loop when the store may wait (SQLite's file lock), else inline (the
        per-process store answers in microseconds; two thread hops per call cost about 0.1 ms here)."""
        if self.store.blocking:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    def decode(self, authorization: str | None, now: float) -> TokenClaims:
        """The claims of a signed, unexpired token (cached); revocation is verify's part."""
        if not authorization or not authorization.startswith(BEARER):
            raise TokenError("token_missing", "a run token is required: Authorization: Bearer <run token> "
                                              "(mint one with `warden token issue` or POST /v1/tokens)")
        token = authorization.removeprefix(BEARER).strip()
        claims = self._tokens.get(token)
        if claims is None:
            claims = self.keyring.verify(token, now)
            self._tokens[token] = claims
            while len(self._tokens) > 50_000:
                self._tokens.popitem(last=False)
        elif now >= claims.expires_at:
            self._tokens.pop(token, None)
            claims = self.keyring.verify(token, now)  # raises with the precise reason
        return claims

    # ---- while running -------------------------------------------------------------------------------

    def reload(self) -> None:
        """The policy bundle, at most every proxy_reload_interval_s (the access lists check their own file)."""
        if time.monotonic() - self._last_bundle_check >= self.settings.proxy_reload_interval_s:
            self._last_bundle_check = time.monotonic()
            if self.bundle.check():
                log.info("policy bundle reloaded: version %s", self.bundle.bundle.version)

    def close(self) -> None:
        EXPOSITION.remove(self.metrics)
        self.emitter.close()
        self.approvals.close()
        if self._control is not None:
            self._control.close()
        self.store.close()
