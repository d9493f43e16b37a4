"""Signed checkpoints of chain heads: what makes a deleted last record or a deleted run visible.

A hash chain alone cannot show that its tail, or all of it, was removed: what remains is a valid
chain. So the ledger-sink signs, every ``checkpoint_interval_s`` and when it stops, the length and
head hash of every chain it extended since its previous checkpoint, plus the digest of that set of
chains; each checkpoint links to the same writer's previous one (``writer_seq``, ``prev_signature``),
so a checkpoint removed from the middle shows too. Together a writer's checkpoints cover every chain
it wrote. Removing the newest checkpoints with the records they cover is only visible against a copy
kept elsewhere: the optional checkpoint file (``WARDEN_CHECKPOINT_FILE``), one JSON line each.

Pure: building, signing and checking; the sink's shell inserts and appends them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from warden.ledger_rows.chain import GENESIS, ChainKey, canonical

ChainId = tuple[str, str]  # (table, chain_key)
COLUMNS = ("checkpoint_id", "writer", "writer_seq", "at", "entries", "tables", "chain_keys", "lengths", "heads",
           "set_digest", "prev_signature", "key_id", "signature")
TABLE = "chain_checkpoints"


@dataclass(frozen=True)
class Entry:
    table: str
    chain_key: str
    length: int
    head: str


@dataclass(frozen=True)
class Checkpoint:
    checkpoint_id: str
    writer: str
    writer_seq: int
    at: datetime
    entries: tuple[Entry, ...]
    prev_signature: str
    key_id: str
    signature: str = ""

    @property
    def set_digest(self) -> str:
        """SHA-256 over the set of chains with their lengths and heads, in one canonical order."""
        items = sorted((e.table, e.chain_key, e.length, e.head) for e in self.entries)
        return hashlib.sha256(canonical(items).encode()).hexdigest()

    def payload(self, set_digest: str | None = None) -> bytes:
        return canonical([self.checkpoint_id, self.writer, self.writer_seq, self.at, len(self.entries),
                          set_digest or self.set_digest, self.prev_signature, self.key_id]).encode()

    def name(self) -> str:
        return f"checkpoint {self.writer}#{self.writer_seq} ({self.checkpoint_id})"

    # -- the two stored forms -------------------------------------------------------------------

    def row(self) -> dict[str, Any]:
        return {"checkpoint_id": self.checkpoint_id, "writer": self.writer, "writer_seq": self.writer_seq,
                "at": self.at, "entries": len(self.entries), "tables": [e.table for e in self.entries],
                "chain_keys": [e.chain_key for e in self.entries], "lengths": [e.length for e in self.entries],
                "heads": [e.head for e in self.entries], "set_digest": self.set_digest,
                "prev_signature": self.prev_signature, "key_id": self.key_id, "signature": self.signature}

    def json_line(self) -> str:
        row = self.row()
        row["at"] = canonical([self.at])[2:-2]
        return json.dumps(row, separators=(",", ":"), sort_keys=True)


def sign(checkpoint: Checkpoint, key: ChainKey) -> Checkpoint:
    unsigned = replace(checkpoint, key_id=key.key_id, signature="")
    return replace(unsigned, signature=hmac.digest(key.secret, unsigned.payload(), "sha256").hex())


def signature_ok(checkpoint: Checkpoint, key: ChainKey) -> bool:
    expected = hmac.digest(key.secret, replace(checkpoint, signature="").payload(), "sha256").hex()
    return hmac.compare_digest(expected, checkpoint.signature)


def from_row(row: dict[str, Any]) -> tuple[Checkpoint, str]:
    """A stored checkpoint and the set digest stored beside it (checked against its entries)."""
    at = row["at"]
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    entries = tuple(Entry(t, k, int(n), h) for t, k, n, h in zip(
        row["tables"], row["chain_keys"], row["lengths"], row["heads"], strict=True))
    checkpoint = Checkpoint(row["checkpoint_id"], row["writer"], int(row["writer_seq"]), at, entries,
                            row["prev_signature"], row["key_id"], row["signature"])
    return checkpoint, row["set_digest"]


@dataclass
class CheckpointWriter:
    """One sink process's checkpoint chain: the chains it extended since its last checkpoint."""

    writer: str
    seq: int = 0
    prev_signature: str = GENESIS
    dirty: dict[ChainId, tuple[int, str]] = field(default_factory=dict)

    def note(self, heads: dict[ChainId, tuple[int, str]]) -> None:
        """Heads of chains whose rows have landed (never before the insert succeeded)."""
        for chain, head in heads.items():
            if head[0] >= self.dirty.get(chain, (0, ""))[0]:
                self.dirty[chain] = head

    def build(self, at: datetime, key: ChainKey,
              extra: dict[ChainId, tuple[int, str]] | None = None) -> Checkpoint | None:
        """The next checkpoint, signed; None when nothing changed. ``written`` makes it the previous one."""
        heads = {**(extra or {}), **self.dirty}
        if not heads:
            return None
        entries = tuple(Entry(t, k, n, h) for (t, k), (n, h) in sorted(heads.items()))
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # DateTime64(3) keeps milliseconds
        draft = Checkpoint(str(uuid.uuid4()), self.writer, self.seq + 1, at, entries, self.prev_signature, key.key_id)
        return sign(draft, key)

    def written(self, checkpoint: Checkpoint) -> None:
        self.seq, self.prev_signature = checkpoint.writer_seq, checkpoint.signature
        for entry in checkpoint.entries:
            chain = (entry.table, entry.chain_key)
            if self.dirty.get(chain, (0, ""))[0] <= entry.length:
                self.dirty.pop(chain, None)
