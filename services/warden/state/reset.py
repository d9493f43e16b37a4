"""What a fresh embedded broker makes stale under DATA_DIR/state, and what it must not touch.

A memory broker starts with no records, so every processor snapshot (state plus the input
offset it covers) points into a log that is gone: kept, it would skip the new broker's first
records. The notifier's outbox is not such state: it holds deliveries still owed to on-call,
keyed by record id, with no offset in it, and the README promises its retries survive a
restart. So a reset removes the snapshots and keeps the outbox.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# Entries of DATA_DIR/state that hold no broker offsets (tests/state/test_reset.py ties this to the
# notifier's own outbox path, so moving the outbox breaks a test rather than an on-call rotation).
DURABLE = frozenset({"notifier"})


def forget_offsets(state_dir: Path) -> list[Path]:
    """Remove every entry of `state_dir` that points at a broker's offsets; returns what was removed."""
    if not state_dir.is_dir():
        return []
    removed = []
    for entry in sorted(state_dir.iterdir()):
        if entry.name in DURABLE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
