"""How tools outside the sink reach the ledger: through the running stack's loopback
endpoint when there is one (chDB allows one process per path), else directly."""

from __future__ import annotations

import json
from typing import Any

import httpx

from warden.core.errors import LedgerError, QueryLimitError, ReadOnlyQueryError
from warden.core.settings import WardenSettings
from warden.ledger.client import Ledger
from warden.ledger.endpoint import ENDPOINT_FILE
from warden.ledger.readonly import QueryLimits, run_readonly

Result = tuple[list[str], list[list[Any]]]
_KINDS: dict[str, type[LedgerError]] = {c.__name__: c for c in (LedgerError, QueryLimitError, ReadOnlyQueryError)}


def endpoint(settings: WardenSettings) -> tuple[str, str] | None:
    """(url, token) of the running stack's ledger endpoint, if one answers."""
    path = settings.data_dir / ENDPOINT_FILE
    if not path.exists():
        return None
    try:
        found = json.loads(path.read_text())
        url, token = str(found["url"]), str(found["token"])
    except (OSError, ValueError, KeyError):
        return None
    try:
        httpx.get(f"{url}/health", timeout=1.0)
    except httpx.HTTPError:
        return None  # a stale file from a stack that did not stop cleanly
    return url, token


def endpoint_url(settings: WardenSettings) -> str | None:
    found = endpoint(settings)
    return found[0] if found else None


def query(settings: WardenSettings, sql: str, timeout_s: float = 120.0, open_embedded: bool = True) -> Result:
    """Read-only SQL against the ledger, wherever it lives.

    `open_embedded=False`: a service next to the ledger-sink, which must never open the chDB files
    itself (it would keep them from the sink); with no running endpoint it gets a LedgerError.
    """
    found = endpoint(settings) if settings.embedded_ledger else None
    if found is None and settings.embedded_ledger and not open_embedded:
        raise LedgerError(f"no running ledger-sink serves the ledger under {settings.data_dir} (is the stack up?)")
    if found is not None:
        url, token = found
        try:
            response = httpx.post(f"{url}/query", json={"sql": sql}, timeout=timeout_s,
                                  headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise LedgerError(f"ledger endpoint {url} failed: {exc}") from exc
        body = response.json()
        if response.status_code != 200:
            raise _KINDS.get(body.get("kind", ""), LedgerError)(body.get("error", response.text))
        return body["columns"], body["rows"]
    ledger = Ledger.from_settings(settings)
    try:
        columns, rows = run_readonly(ledger, sql, QueryLimits.from_settings(settings))
        return columns, [list(r) for r in rows]
    finally:
        ledger.close()


def scalar(settings: WardenSettings, sql: str) -> Any:
    _, rows = query(settings, sql)
    return rows[0][0] if rows else None
