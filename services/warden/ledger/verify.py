"""`warden ledger verify`: recompute every hash chain from what is stored and name what changed.

Per record: its hash must match its content under the key its row names (HMAC; legacy rows
without a key: SHA-256), its prev_hash its predecessor's hash, its sequence number the next one,
and no unkeyed record may follow a keyed one (a forged or replaced record whose plain SHA-256 was
recomputed). Per chain, against every signed checkpoint (the chain_checkpoints table and the
optional file outside the ledger): the record at each checkpointed length must have the head hash
signed then (else it was replaced), the chain must be at least that long (else its last records
were deleted) and must exist (else the run was deleted). Checkpoints themselves must carry a valid
signature, link to their writer's previous one, and every checkpoint in the file must still be in
the table. Unkeyed rows are legacy, not tampering, as long as a checkpoint covers them or the
ledger has none yet (docs/decisions/0009).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from warden.ledger.checkpoint_log import file_checkpoints, stored_checkpoints
from warden.ledger.client import Ledger
from warden.ledger.keys import NO_KEYS, LedgerKeys
from warden.ledger_rows.chain import GENESIS, link
from warden.ledger_rows.checkpoints import ChainId, Checkpoint, signature_ok
from warden.ledger_rows.tables import LINK_COLUMNS, TABLES, Table


@dataclass(frozen=True)
class Broken:
    table: str
    record_id: str
    chain_key: str
    chain_seq: int
    problem: str

    def __str__(self) -> str:
        if self.table == "chain_checkpoints":
            return f"{self.record_id}: {self.problem}"
        where = f"record {self.record_id}" if self.record_id else "chain"
        return f"{self.table} {where} (chain {self.chain_key!r} #{self.chain_seq}): {self.problem}"


@dataclass
class VerifyReport:
    records: int = 0
    chains: int = 0
    broken: list[Broken] | None = None
    keyed_records: int = 0
    legacy_records: int = 0
    legacy_chains: int = 0
    checkpoints: int = 0
    unverifiable: list[Broken] = field(default_factory=list)  # rows or checkpoints under a key not configured

    @property
    def ok(self) -> bool:
        return not self.broken and not self.unverifiable


@dataclass
class _Expected:
    """What the checkpoints signed for one chain: the head at each checkpointed length."""

    heads: dict[int, tuple[str, str]] = field(default_factory=dict)  # length -> (head, checkpoint name)

    @property
    def length(self) -> int:
        return max(self.heads, default=0)


def _checkpoint_problems(keys: LedgerKeys, table_cps: list[tuple[Checkpoint, str]],
                         file_cps: list[tuple[Checkpoint, str]], report: VerifyReport,
                         expected: dict[ChainId, _Expected]) -> Iterator[Broken]:
    def broken(cp: Checkpoint, problem: str) -> Broken:
        return Broken("chain_checkpoints", cp.name(), "", cp.writer_seq, problem)

    stored = {cp.checkpoint_id: cp for cp, _ in table_cps}
    trusted: dict[str, Checkpoint] = {}
    for source, checkpoints in (("ledger", table_cps), ("file", file_cps)):
        for cp, digest in checkpoints:
            key = keys.get(cp.key_id)
            if key is None:
                report.unverifiable.append(broken(cp, f"signed with ledger key {cp.key_id!r}, which is not "
                                                      f"configured ({keys.source}): cannot be checked"))
                continue
            if digest != cp.set_digest or not signature_ok(cp, key):
                yield broken(cp, f"its signature or its set of chains does not match ({source} copy): "
                                 "the checkpoint was altered")
                continue
            if source == "file" and cp.checkpoint_id not in stored:
                yield broken(cp, "is in the checkpoint file but missing from the ledger: it was deleted")
            elif source == "file" and stored[cp.checkpoint_id].signature != cp.signature:
                yield broken(cp, "differs between the checkpoint file and the ledger")
            trusted.setdefault(cp.checkpoint_id, cp)
    report.checkpoints = len(trusted)
    by_writer: dict[str, dict[int, Checkpoint]] = {}
    for cp in trusted.values():
        by_writer.setdefault(cp.writer, {})[cp.writer_seq] = cp
    for writer, chain in by_writer.items():
        prev = GENESIS
        for seq in range(1, max(chain) + 1):
            found = chain.get(seq)
            if found is None:
                yield Broken("chain_checkpoints", f"checkpoint {writer}#{seq}", "", seq,
                             "missing: the writer's checkpoints jump over it (deleted)")
                prev = ""
                continue
            if prev and found.prev_signature != prev:
                yield broken(found, "does not link to its writer's previous checkpoint")
            prev = found.signature
    for cp in trusted.values():
        for entry in cp.entries:
            want = expected.setdefault((entry.table, entry.chain_key), _Expected())
            known = want.heads.get(entry.length)
            if known is not None and known[0] != entry.head:
                yield broken(cp, f"disagrees with {known[1]} on the head of {entry.table} chain "
                                 f"{entry.chain_key!r} #{entry.length}")
            want.heads.setdefault(entry.length, (entry.head, cp.name()))


def _table_problems(ledger: Ledger, table: Table, keys: LedgerKeys, report: VerifyReport,
                    expected: dict[ChainId, _Expected], checkpointed: bool) -> Iterator[Broken]:
    table_name, columns = table.name, table.hashed_columns
    select = ", ".join(columns + LINK_COLUMNS)
    sql = (f"SELECT {select} FROM {ledger.database}.{table_name} ORDER BY chain_key, chain_seq, hash")
    idx_key, idx_seq, idx_id = columns.index("chain_key"), columns.index("chain_seq"), columns.index("record_id")
    key: str | None = None
    prev_seq, prev_hash, prev_id = 0, GENESIS, ""
    keyed_seen = legacy_chain = False
    want = _Expected()

    def chain_end() -> Iterator[Broken]:
        if key is not None and want.length > prev_seq:
            name = want.heads[want.length][1]
            yield Broken(table_name, prev_id, key, prev_seq,
                         f"the chain ends at #{prev_seq} but {name} signed #{want.length}: its last "
                         f"{want.length - prev_seq} record(s) were deleted")

    for row in ledger.stream(sql):
        report.records += 1
        chain_key, seq, record_id = row[idx_key], int(row[idx_seq]), row[idx_id]
        stored_prev, stored_hash, key_id = row[-3], row[-2], row[-1]
        if chain_key != key:
            yield from chain_end()
            key, prev_seq, prev_hash = chain_key, 0, GENESIS
            keyed_seen = legacy_chain = False
            want = expected.pop((table_name, chain_key), _Expected())
            report.chains += 1
        if seq != prev_seq + 1:
            yield Broken(table_name, record_id, chain_key, seq,
                         f"sequence jumps from {prev_seq} to {seq}: a record is missing or duplicated")
        if stored_prev != prev_hash:
            yield Broken(table_name, record_id, chain_key, seq,
                         "prev_hash does not match the previous record's hash")
        values = table.hashed_values(dict(zip(columns, row, strict=False)))
        if key_id:
            chain_key_material = keys.get(key_id)
            keyed_seen = True
            report.keyed_records += 1
            if chain_key_material is None:
                report.unverifiable.append(Broken(
                    table_name, record_id, chain_key, seq,
                    f"linked with ledger key {key_id!r}, which is not configured ({keys.source}): cannot be checked"))
            elif link(stored_prev, values, chain_key_material) != stored_hash:
                yield Broken(table_name, record_id, chain_key, seq,
                             "content does not match its hash: the record was changed after it was written")
        else:
            report.legacy_records += 1
            if not legacy_chain:
                legacy_chain = True
                report.legacy_chains += 1
            if link(stored_prev, values) != stored_hash:
                yield Broken(table_name, record_id, chain_key, seq,
                             "content does not match its hash: the record was changed after it was written")
            elif keyed_seen:
                yield Broken(table_name, record_id, chain_key, seq,
                             "an unkeyed record after keyed ones in its chain: forged or replaced, "
                             "its plain SHA-256 recomputed")
            elif checkpointed and seq > want.length:
                yield Broken(table_name, record_id, chain_key, seq,
                             "an unkeyed record that no checkpoint covers, in a ledger with checkpoints: "
                             "written without the ledger key (forged)")
        signed = want.heads.get(seq)
        if signed is not None and signed[0] != stored_hash:
            yield Broken(table_name, record_id, chain_key, seq,
                         f"differs from the head {signed[1]} signed for #{seq}: the record was replaced")
        prev_seq, prev_hash, prev_id = seq, stored_hash, record_id
    yield from chain_end()


def verify(ledger: Ledger, keys: LedgerKeys = NO_KEYS, checkpoint_file: Path | None = None) -> VerifyReport:
    report = VerifyReport(broken=[])
    assert report.broken is not None
    expected: dict[ChainId, _Expected] = {}
    file_cps = file_checkpoints(checkpoint_file) if checkpoint_file is not None else []
    report.broken.extend(_checkpoint_problems(keys, stored_checkpoints(ledger), file_cps, report, expected))
    checkpointed = bool(expected) or report.checkpoints > 0
    for table in TABLES.values():
        report.broken.extend(_table_problems(ledger, table, keys, report, expected, checkpointed))
    for (table_name, chain_key), want in sorted(expected.items()):
        if table_name not in {t.name for t in TABLES.values()} or not want.heads:
            continue
        name = want.heads[want.length][1]
        report.broken.append(Broken(table_name, "", chain_key, want.length,
                                    f"the whole chain is missing but {name} signed {want.length} record(s): "
                                    "the run's records were deleted"))
    return report
