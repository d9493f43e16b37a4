"""The tool-proxy runner: the proxy's parts (proxy.py) behind its HTTP app (http_api.py) under uvicorn.

Agents call ``POST /v1/tools/{tool}/{action}`` with their run token; agent platforms mint and
revoke run tokens at ``/v1/tokens``. The checks are pipeline.py (the pure ones processor.py).
"""

from __future__ import annotations

import logging
import threading

from warden.core.errors import ConfigError
from warden.tool_proxy.http_api import create_app
from warden.tool_proxy.proxy import ToolProxy
from warden.tool_proxy.settings import ToolProxySettings
from warden.tool_proxy.tokens import TokenError

log = logging.getLogger("warden.tool_proxy")


def run_service(settings: ToolProxySettings, stop: threading.Event) -> None:
    import uvicorn

    try:
        proxy = ToolProxy(settings)
    except TokenError as exc:
        raise ConfigError(str(exc)) from exc
    server = uvicorn.Server(uvicorn.Config(create_app(proxy), host=settings.proxy_host, port=settings.proxy_port,
                                           log_level="warning", access_log=False))

    def stop_server() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=stop_server, daemon=True).start()
    log.info("tool-proxy on %s:%s: inventory %s, bundle %s, %s", settings.proxy_host, settings.proxy_port,
             proxy.inventory.version, proxy.bundle.bundle.version,
             "shared limits " + settings.proxy_shared_store if settings.proxy_shared_store else "per-process limits")
    try:
        server.run()
    finally:
        proxy.close()
