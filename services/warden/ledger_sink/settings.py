"""ledger-sink's one settings object."""

from __future__ import annotations

from pydantic import Field

from warden.core.settings import WardenSettings


class LedgerSinkSettings(WardenSettings):
    group_id: str = "warden-ledger-sink"
    batch_max_rows: int = Field(5000, ge=1, description="Flush when this many records are buffered...")
    batch_max_ms: int = Field(250, ge=10, description="...or when the oldest buffered record is this old.")
    retention_years: int = Field(7, ge=1, description="TTL of every ledger table unless overridden below.")
    retention_overrides: dict[str, int] = Field(
        default_factory=dict, description='Per-table TTL in years, e.g. {"dead_letters": 1}.'
    )
    chain_cache_size: int = Field(200_000, description="Chain heads kept in memory; older ones are re-read.")
    serve_queries: bool = Field(True, description="Serve the loopback query endpoint (embedded mode).")

    def retention(self) -> dict[str, int]:
        return {"*": self.retention_years, **self.retention_overrides}
