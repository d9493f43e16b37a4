"""Each `warden ledger verify` run and its result, kept in the ledger (table ledger_verifications,
migration 0016) so the dashboards and the report show when the chains were last checked and what
was found. Verify runs with the stack stopped and owns the ledger, so it writes the row itself."""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from warden import __version__
from warden.ledger.client import Ledger

TABLE = "ledger_verifications"
MAX_DETAILS = 20  # the first problems, as printed; the count says how many there were
COLUMNS = ("verification_id", "started_at", "finished_at", "ok", "records", "chains", "problems", "details",
           "actor", "ledger", "warden_version")


def _where(url: str) -> str:
    """The ledger's address without credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def record(ledger: Ledger, started_at: datetime, records: int, chains: int, problems: Sequence[str],
           actor: str | None = None, finished_at: datetime | None = None) -> str:
    """Insert one verification row; returns its id."""
    verification_id = str(uuid.uuid4())
    values = (verification_id, started_at, finished_at or datetime.now(UTC), not problems, records, chains,
              len(problems), [str(p) for p in problems[:MAX_DETAILS]], actor or getpass.getuser(), _where(ledger.url),
              __version__)
    ledger.insert(TABLE, COLUMNS, [[v] for v in values])
    return verification_id
