"""tool-proxy's one settings object. Upstream secrets and signing keys are SecretStr: only the proxy holds them."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field, SecretStr

from warden.core.settings import WardenSettings
from warden.policy.bundle import DEFAULT_POLICIES
from warden.tool_proxy.access import DEFAULT_ACCESS
from warden.tool_proxy.inventory import DEFAULT_INVENTORY
from warden.tool_proxy.tokens import DEFAULT_TTL_S, MAX_TTL_S


def _replica() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ToolProxySettings(WardenSettings):
    proxy_host: str = Field("127.0.0.1", description="Bind address; 0.0.0.0 only inside a container.")
    proxy_port: int = 8790
    proxy_inventory: Path = Field(DEFAULT_INVENTORY, description="The tool inventory (YAML) this deployment enforces.")
    proxy_access_lists: Path = Field(DEFAULT_ACCESS, description="Allow/deny lists per tenant and workflow (YAML).")
    policies_dir: Path = Field(DEFAULT_POLICIES, description="The Cedar bundle the policy-evaluator loads too.")
    proxy_signing_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Token signing keys by id, e.g. {"2026-11": "<32+ random bytes>"}; every key verifies.')
    proxy_signing_key_id: str | None = Field(None, description="Which key signs new tokens (needed with 2+ keys).")
    proxy_issuer_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Agent platforms allowed to mint and revoke run tokens over HTTP: identity -> bearer token.')
    proxy_issuer_tenants: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Which tenants each issuer may mint and revoke tokens for: identity -> tenants, e.g. '
                    '{"platform@acme": ["acme"]}; ["*"] for every tenant. An issuer not listed may mint none.')
    proxy_upstream_secrets: dict[str, SecretStr] = Field(
        default_factory=dict, description='Upstream credentials by the name the inventory gives them.')
    proxy_token_ttl_s: int = Field(DEFAULT_TTL_S, gt=0, le=MAX_TTL_S, description="Default run token lifetime.")
    proxy_shared_store: str | None = Field(
        None, description="sqlite:///path shared by replicas on one host; unset: limits and revocations per process.")
    proxy_approval_timeout_s: float = Field(900.0, gt=0, description="How long a call waits for a human approval.")
    proxy_reload_interval_s: float = Field(1.0, gt=0, description="How often access lists and the bundle are checked.")
    proxy_replica: str = Field(default_factory=_replica, description="Names this replica in the ledger.")
    proxy_url: str = Field("http://127.0.0.1:8790", description="Where `warden token revoke` finds the proxy.")
    proxy_issuer_token: SecretStr | None = Field(None, description="Your platform's issuer token, for the CLI.")
    proxy_mcp_resource_url: str | None = Field(
        None, description="The MCP endpoint's public URL: the OAuth resource its run tokens are for (RFC 9728 "
                          "protected-resource metadata); default proxy_url + /mcp.")
    proxy_mcp_authorization_server: str | None = Field(
        None, description="Where agents get run tokens, named in the protected-resource metadata: your platform's "
                          "authorization server, or by default proxy_url (whose /v1/tokens mints them).")
    proxy_mcp_approval_poll_s: float = Field(
        20.0, gt=0, description="MCP 2026-07-28: how long a tools/call waiting for a human is held before it is "
                                "handed back as input_required for the client to retry.")

    @property
    def mcp_resource_url(self) -> str:
        return self.proxy_mcp_resource_url or f"{self.proxy_url.rstrip('/')}/mcp"

    @property
    def mcp_authorization_server(self) -> str:
        return self.proxy_mcp_authorization_server or self.proxy_url.rstrip("/")
