"""Shared by the tool-proxy tests: an inventory pointed at a local upstream, keys, a proxy on the test topics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from warden.core.settings import WardenSettings
from warden.tool_proxy.inventory import DEFAULT_INVENTORY
from warden.tool_proxy.settings import ToolProxySettings

KEY_OLD = "k-2026-10", "old-key-0123456789abcdef0123456789abcdef"
KEY_NEW = "k-2026-11", "new-key-fedcba9876543210fedcba9876543210"
SECRETS = {f"{t}-api-key": f"sk-live-{t}-9f8e7d6c5b4a3210" for t in
           ("crm", "payments", "reports", "tickets", "email", "iam")}
ISSUERS = {"platform@acme": "issuer-tok-5a4b3c2d1e0f", "ops@warden": "issuer-tok-0f1e2d3c4b5a"}
ISSUER_TENANTS = {"platform@acme": ["acme"], "ops@warden": ["*"]}


def inventory_file(tmp_path: Path, upstream_url: str, limits: dict[str, Any] | None = None) -> Path:
    """The default inventory with every upstream on the local server (and optionally other limits)."""
    data = yaml.safe_load(DEFAULT_INVENTORY.read_text())
    for name, tool in data["tools"].items():
        tool["upstream_url"] = f"{upstream_url}/{name}"
        if limits is not None:
            tool.pop("rate_limits", None)
    if limits is not None:
        data["defaults"]["rate_limits"] = limits
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def proxy_settings(base: WardenSettings, tmp_path: Path, upstream_url: str, **extra: Any) -> ToolProxySettings:
    fields: dict[str, Any] = {
        **base.model_dump(),
        "proxy_inventory": inventory_file(tmp_path, upstream_url, extra.pop("limits", None)),
        "proxy_access_lists": tmp_path / "access.yaml",
        "proxy_signing_keys": dict([KEY_OLD, KEY_NEW]),
        "proxy_signing_key_id": KEY_NEW[0],
        "proxy_upstream_secrets": SECRETS,
        "proxy_issuer_tokens": ISSUERS,
        "proxy_issuer_tenants": ISSUER_TENANTS,
        "proxy_reload_interval_s": 0.05,
        **extra,
    }
    return ToolProxySettings(**fields)
