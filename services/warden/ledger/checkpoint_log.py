"""Where checkpoints rest: the chain_checkpoints table and, optionally, a file outside the ledger.

The sink's shell owns one ``CheckpointLog``: it notes the chains each flush extended (only after
their rows landed, so a checkpoint never claims a record the ledger lacks) and writes a signed
checkpoint when one is due. `warden ledger verify` reads both places back.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from warden.core.errors import ConfigError, LedgerError
from warden.ledger.client import Ledger
from warden.ledger_rows.chain import ChainKey
from warden.ledger_rows.checkpoints import COLUMNS, TABLE, ChainId, Checkpoint, CheckpointWriter, from_row
from warden.ledger_rows.tables import TABLES

log = logging.getLogger("warden.ledger_rows.checkpoints")


def all_heads(ledger: Ledger) -> dict[ChainId, tuple[int, str]]:
    """Every chain's length and head as stored now (one GROUP BY per table)."""
    heads: dict[ChainId, tuple[int, str]] = {}
    for table in TABLES.values():
        for key, seq, head in ledger.rows(
                f"SELECT chain_key, max(chain_seq), argMax(hash, chain_seq) FROM {ledger.database}.{table.name} "
                "GROUP BY chain_key"):
            heads[(table.name, key)] = (int(seq), head)
    return heads


def stored_checkpoints(ledger: Ledger) -> list[tuple[Checkpoint, str]]:
    sql = f"SELECT {', '.join(COLUMNS)} FROM {ledger.database}.{TABLE} ORDER BY writer, writer_seq, checkpoint_id"
    return [from_row(dict(zip(COLUMNS, row, strict=True))) for row in ledger.stream(sql)]


def file_checkpoints(path: Path) -> list[tuple[Checkpoint, str]]:
    """The copy outside the ledger; a line that does not parse is an error naming the line."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the checkpoint file {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(from_row(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{number} is not a checkpoint line ({exc}): {line[:80]!r}") from exc
    return out


class CheckpointLog:
    def __init__(self, ledger: Ledger, key: ChainKey, interval_s: float, file: Path | None = None,
                 writer: str | None = None) -> None:
        self.ledger, self.key, self.interval_s, self.file = ledger, key, interval_s, file
        self.state = CheckpointWriter(writer or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
        self._last = time.monotonic()
        self.written = 0

    def start(self) -> CheckpointLog:
        """A ledger that has rows but no checkpoint yet (written by an older Warden) is covered whole once,
        so its legacy chains are known from then on: an unkeyed record after this one stands out."""
        if self.file is not None:
            self.file.parent.mkdir(parents=True, exist_ok=True)
        if self.ledger.scalar(f"SELECT count() FROM {self.ledger.database}.{TABLE}") == 0:
            heads = all_heads(self.ledger)
            if heads:
                self._write(heads)
                log.info("first checkpoint covers the %d chains already in the ledger", len(heads))
        return self

    def landed(self, heads: dict[ChainId, tuple[int, str]]) -> None:
        self.state.note(heads)
        self.tick()

    def tick(self) -> None:
        if self.state.dirty and time.monotonic() - self._last >= self.interval_s:
            self.write()

    def write(self) -> Checkpoint | None:
        """Sign and store what changed since the last checkpoint (also at shutdown)."""
        return self._write(None)

    def _write(self, extra: dict[ChainId, tuple[int, str]] | None) -> Checkpoint | None:
        checkpoint = self.state.build(datetime.now(UTC), self.key, extra)
        self._last = time.monotonic()
        if checkpoint is None:
            return None
        row = checkpoint.row()
        self.ledger.insert(TABLE, COLUMNS, [[row[c]] for c in COLUMNS])
        if self.file is not None:
            try:
                with open(self.file, "a", encoding="utf-8") as out:
                    out.write(checkpoint.json_line() + "\n")
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as exc:
                raise LedgerError(f"checkpoint {checkpoint.checkpoint_id} is in the ledger but could not be "
                                  f"appended to {self.file}: {exc}") from exc
        self.state.written(checkpoint)
        self.written += 1
        return checkpoint
