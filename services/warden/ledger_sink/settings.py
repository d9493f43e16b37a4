"""ledger-sink's one settings object."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from warden.core.settings import WardenSettings
from warden.ledger.keys import LedgerKeys, load


class LedgerSinkSettings(WardenSettings):
    group_id: str = "warden-ledger-sink"
    batch_max_rows: int = Field(5000, ge=1, description="Flush when this many records are buffered...")
    batch_max_ms: int = Field(250, ge=10, description="...or when the oldest buffered record is this old.")
    retention_years: int = Field(7, ge=1, description="TTL of every ledger table unless overridden below.")
    retention_overrides: dict[str, int] = Field(
        default_factory=dict, description='Per-table TTL in years, e.g. {"dead_letters": 1}.'
    )
    chain_cache_size: int = Field(200_000, description="Chain heads kept in memory; older ones are re-read.")
    recent_event_ids: int = Field(
        100_000, ge=1, description="Agent event ids remembered after landing, so one a producer re-sent (the "
                                   "embedded broker's at-least-once producers, ADR 0014) is skipped without a query.")
    serve_queries: bool = Field(True, description="Serve the loopback query endpoint (embedded mode).")
    ledger_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Keys that link hash chains and sign checkpoints, id -> 32+ random characters, e.g. '
                    '{"2026-12": "..."}; every key ever used must stay listed. Empty: DATA_DIR/keys/ledger-keys.json.')
    ledger_key_id: str | None = Field(None, description="Which ledger key links new rows (needed with 2+ keys).")
    checkpoint_interval_s: float = Field(30.0, gt=0, description="How often the sink signs its chains' heads.")
    checkpoint_file: Path | None = Field(
        None, description="Also append every checkpoint to this file, outside the ledger (another volume or host).")

    def retention(self) -> dict[str, int]:
        return {"*": self.retention_years, **self.retention_overrides}

    def chain_keys(self, create: bool = False) -> LedgerKeys:
        """The ledger keys; the sink creates the managed key file when none are configured, verify only reads."""
        return load(self.ledger_keys, self.ledger_key_id, self.data_dir, create=create)
