"""`warden ledger verify`: recompute every hash chain from what is stored and name what changed.

A record is reported when its hash does not match its content (edited), when its
prev_hash is not its predecessor's hash (edited predecessor or re-linked), or when
sequence numbers jump (a record was removed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from warden.ledger.chain import GENESIS, link
from warden.ledger.client import Ledger
from warden.ledger.tables import LINK_COLUMNS, TABLES, Table


@dataclass(frozen=True)
class Broken:
    table: str
    record_id: str
    chain_key: str
    chain_seq: int
    problem: str

    def __str__(self) -> str:
        return (f"{self.table} record {self.record_id} (chain {self.chain_key!r} #{self.chain_seq}): "
                f"{self.problem}")


@dataclass
class VerifyReport:
    records: int = 0
    chains: int = 0
    broken: list[Broken] | None = None

    @property
    def ok(self) -> bool:
        return not self.broken


def _table_problems(ledger: Ledger, table: Table, report: VerifyReport) -> Iterator[Broken]:
    table_name, columns = table.name, table.hashed_columns
    select = ", ".join(columns + LINK_COLUMNS)
    sql = (f"SELECT {select} FROM {ledger.database}.{table_name} ORDER BY chain_key, chain_seq")
    idx_key, idx_seq, idx_id = columns.index("chain_key"), columns.index("chain_seq"), columns.index("record_id")
    key: str | None = None
    prev_seq, prev_hash = 0, GENESIS
    for row in ledger.stream(sql):
        report.records += 1
        chain_key, seq, record_id = row[idx_key], int(row[idx_seq]), row[idx_id]
        stored_prev, stored_hash = row[-2], row[-1]
        if chain_key != key:
            key, prev_seq, prev_hash = chain_key, 0, GENESIS
            report.chains += 1
        if seq != prev_seq + 1:
            yield Broken(table_name, record_id, chain_key, seq,
                         f"sequence jumps from {prev_seq} to {seq}: a record is missing or duplicated")
        if stored_prev != prev_hash:
            yield Broken(table_name, record_id, chain_key, seq,
                         "prev_hash does not match the previous record's hash")
        if link(stored_prev, table.hashed_values(dict(zip(columns, row, strict=False)))) != stored_hash:
            yield Broken(table_name, record_id, chain_key, seq,
                         "content does not match its hash: the record was changed after it was written")
        prev_seq, prev_hash = seq, stored_hash


def verify(ledger: Ledger) -> VerifyReport:
    report = VerifyReport(broken=[])
    assert report.broken is not None
    for table in TABLES.values():
        report.broken.extend(_table_problems(ledger, table, report))
    return report
