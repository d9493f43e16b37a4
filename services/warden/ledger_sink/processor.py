"""The sink's pure step: (chain heads, decoded records) -> (chain heads, rows per table).

No Kafka, no ClickHouse: the shell decodes, fetches unknown chain heads and the ids already
landed, then calls ``land``. Replay and the live sink therefore hash and redact identically.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from warden.ledger_rows.chain import GENESIS, ChainKey, link
from warden.ledger_rows.tables import TABLES, Table

ChainId = tuple[str, str]  # (table, chain_key)


@dataclass(frozen=True)
class Incoming:
    """One decoded record and where it was read from."""

    topic: str  # the base topic name (without prefix)
    partition: int
    offset: int
    key: str | None
    message: BaseModel
    src_topic: str = ""


@dataclass
class ChainHeads:
    """Last (seq, hash) per chain, bounded: an evicted head is re-read from the ledger."""

    capacity: int = 200_000
    heads: OrderedDict[ChainId, tuple[int, str]] = field(default_factory=OrderedDict)

    def get(self, chain: ChainId) -> tuple[int, str] | None:
        head = self.heads.get(chain)
        if head is not None:
            self.heads.move_to_end(chain)
        return head

    def put(self, chain: ChainId, head: tuple[int, str]) -> None:
        self.heads[chain] = head
        self.heads.move_to_end(chain)
        while len(self.heads) > self.capacity:
            self.heads.popitem(last=False)

    def missing(self, chains: set[ChainId]) -> set[ChainId]:
        return {c for c in chains if c not in self.heads}


@dataclass
class Landed:
    """Rows ready to insert, column-oriented per table, plus what was skipped as already landed."""

    columns: dict[str, list[list[Any]]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    redactions: int = 0
    heads: dict[ChainId, tuple[int, str]] = field(default_factory=dict)  # chains extended: what checkpoints sign


def chain_of(table: Table, item: Incoming) -> ChainId:
    """Keyed records chain per key; key-less ones per partition, so every chain has one writer."""
    return (table.name, item.key if item.key is not None else f"~p{item.partition}")


def land(heads: ChainHeads, batch: list[Incoming], already_landed: set[tuple[str, str]],
         key: ChainKey | None = None) -> tuple[ChainHeads, Landed]:
    """Turn a batch into ledger rows; ``already_landed`` holds (table, record_id) to skip.

    Unknown chains must have been seeded into ``heads`` by the caller (GENESIS for new ones). Links
    are HMAC under ``key`` (the live sink always passes one); without it, legacy SHA-256.
    """
    out = Landed()
    seen = set(already_landed)
    key_id = key.key_id if key is not None else ""
    for item in batch:
        table = TABLES[item.topic]
        record_id = table.record_id(item.message)
        if (table.name, record_id) in seen:
            out.duplicates += 1
            continue
        seen.add((table.name, record_id))
        row = table.to_row(item.message)
        chain = chain_of(table, item)
        seq, prev = heads.get(chain) or (0, GENESIS)
        row["record_id"] = record_id
        row["chain_key"] = chain[1]
        row["chain_seq"] = seq + 1
        row["hash"] = digest = link(prev, table.hashed_values(row), key)
        row["prev_hash"] = prev
        row["hash_key_id"] = key_id
        row["src_topic"] = item.src_topic or item.topic
        row["src_partition"] = item.partition
        row["src_offset"] = item.offset
        heads.put(chain, (seq + 1, digest))
        out.heads[chain] = (seq + 1, digest)
        out.redactions += row.get("redactions") or 0
        cols = out.columns.get(table.name)
        if cols is None:
            cols = out.columns[table.name] = [[] for _ in table.insert_columns]
        for column, name in zip(cols, table.insert_columns, strict=True):
            column.append(row[name])
        out.rows[table.name] = out.rows.get(table.name, 0) + 1
    return heads, out
