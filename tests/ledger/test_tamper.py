"""Tamper evidence as a compliance officer relies on it: each kind of tampering is detected and named.

A keyed ledger (HMAC chains, signed checkpoints in the table and in a file outside it) in the real
ClickHouse engine (chDB); each test tampers the way someone with write access to ClickHouse but
without the ledger key would, then `verify` must name what happened. Tests may tamper; Warden's own
code has no UPDATE or DELETE path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ledger_sink.test_processor import event, incoming
from warden.ledger.checkpoint_log import CheckpointLog
from warden.ledger.client import Ledger
from warden.ledger.keys import LedgerKeys
from warden.ledger.verify import VerifyReport, verify
from warden.ledger_rows.chain import ChainKey
from warden.ledger_rows.tables import TABLES_BY_NAME
from warden.ledger_sink.processor import ChainHeads, land

K1 = ChainKey("k1", b"k1-" + b"s" * 40)
K2 = ChainKey("k2", b"k2-" + b"t" * 40)
KEYS = LedgerKeys({K1.key_id: K1.secret, K2.key_id: K2.secret}, K1.key_id, "test")
ATTACKER = ChainKey("k1", b"a guess at the key, not the key!")  # claims the real key id
STEPS = 4


@dataclass
class Keyed:
    ledger: Ledger
    file: Path
    log: CheckpointLog
    runs: dict[str, list[str]]  # run id -> event ids in chain order

    def report(self, keys: LedgerKeys = KEYS, with_file: bool = True) -> VerifyReport:
        return verify(self.ledger, keys, self.file if with_file else None)

    def delete(self, where: str) -> None:
        self.ledger.command(f"ALTER TABLE {self.ledger.database}.agent_events DELETE WHERE {where}",
                            settings={"mutations_sync": 2})

    def append(self, run_id: str, seq: int, prev: str, key: ChainKey | None, key_id: str | None = None) -> str:
        """A record linked after `prev` at `seq`, its hash computed as the forger can (legacy or a wrong key)."""
        heads = ChainHeads()
        heads.put(("agent_events", run_id), (seq - 1, prev))
        forged = event(run_id, seq, {"customer_id": "cus_forged", "amount_usd": 9999})
        _, landed = land(heads, [incoming(forged, 10_000 + seq)], set(), key)
        columns = landed.columns["agent_events"]
        if key_id is not None:
            columns[TABLES_BY_NAME["agent_events"].insert_columns.index("hash_key_id")] = [key_id]
        insert(self.ledger, landed.columns)
        return forged.event_id

    def hash_of(self, event_id: str) -> str:
        return str(self.ledger.scalar(
            f"SELECT hash FROM {self.ledger.database}.agent_events WHERE event_id = %(id)s", {"id": event_id}))


def insert(ledger: Ledger, columns: dict[str, list[list[object]]]) -> None:
    for table, values in columns.items():
        ledger.insert(table, TABLES_BY_NAME[table].insert_columns, values)


@pytest.fixture
def keyed(ledger: Ledger, tmp_path: Path) -> Keyed:
    runs = {f"run-{r}": [] for r in range(3)}  # type: dict[str, list[str]]
    batch = []
    for r, run_id in enumerate(runs):
        for s in range(1, STEPS + 1):
            e = event(run_id, s)
            runs[run_id].append(e.event_id)
            batch.append(incoming(e, r * STEPS + s))
    log = CheckpointLog(ledger, K1, interval_s=3600, file=tmp_path / "outside" / "checkpoints.jsonl").start()
    _, landed = land(ChainHeads(), batch, set(), K1)
    insert(ledger, landed.columns)
    log.landed(landed.heads)  # as the sink does: only after the rows landed
    assert log.write() is not None
    assert log.file is not None
    return Keyed(ledger, log.file, log, runs)


def problems(report: VerifyReport) -> list[str]:
    assert report.broken is not None
    return [str(b) for b in report.broken]


def test_an_untouched_keyed_ledger_verifies(keyed: Keyed) -> None:
    report = keyed.report()
    assert report.ok, problems(report)
    assert (report.records, report.chains, report.keyed_records, report.legacy_records, report.checkpoints) == (
        12, 3, 12, 0, 1)
    assert keyed.file.read_text().count("\n") == 1  # the copy outside the ledger


def test_a_changed_record_is_named(keyed: Keyed) -> None:
    victim = keyed.runs["run-1"][1]
    keyed.ledger.command(f"ALTER TABLE {keyed.ledger.database}.agent_events UPDATE params = '{{}}' "
                         f"WHERE event_id = '{victim}'", settings={"mutations_sync": 2})
    report = keyed.report()
    assert not report.ok
    assert any(victim in p and "changed after it was written" in p for p in problems(report)), problems(report)


def test_a_deleted_middle_record_is_named(keyed: Keyed) -> None:
    ids = keyed.runs["run-1"]
    keyed.delete(f"event_id = '{ids[1]}'")
    found = problems(keyed.report())
    assert any(ids[2] in p and "missing" in p for p in found), found


def test_a_deleted_last_record_is_named(keyed: Keyed) -> None:
    ids = keyed.runs["run-1"]
    keyed.delete(f"event_id = '{ids[-1]}'")
    found = problems(keyed.report())
    assert any("'run-1'" in p and "last 1 record(s) were deleted" in p for p in found), found


def test_a_forged_record_appended_with_its_sha256_recomputed_is_named(keyed: Keyed) -> None:
    ids = keyed.runs["run-2"]
    forged = keyed.append("run-2", STEPS + 1, keyed.hash_of(ids[-1]), None)
    found = problems(keyed.report())
    assert any(forged in p and "unkeyed record after keyed ones" in p for p in found), found


@pytest.mark.parametrize("how", ["sha256 under the real key id", "an HMAC under a guessed key"])
def test_a_forged_record_claiming_the_key_is_named(keyed: Keyed, how: str) -> None:
    ids = keyed.runs["run-2"]
    if how.startswith("sha256"):
        forged = keyed.append("run-2", STEPS + 1, keyed.hash_of(ids[-1]), None, key_id=K1.key_id)
    else:
        forged = keyed.append("run-2", STEPS + 1, keyed.hash_of(ids[-1]), ATTACKER)
    found = problems(keyed.report())
    assert any(forged in p and "does not match its hash" in p for p in found), found


def test_a_record_inserted_in_the_middle_is_named(keyed: Keyed) -> None:
    ids = keyed.runs["run-0"]
    inserted = keyed.append("run-0", 3, keyed.hash_of(ids[1]), None)
    found = problems(keyed.report())
    assert any(inserted in p for p in found), found
    assert any("duplicated" in p for p in found), found


def test_the_last_record_replaced_with_its_hash_recomputed_is_named(keyed: Keyed) -> None:
    ids = keyed.runs["run-0"]
    prev = keyed.hash_of(ids[-2])
    keyed.delete(f"event_id = '{ids[-1]}'")
    replacement = keyed.append("run-0", STEPS, prev, None)
    found = problems(keyed.report())
    assert any(replacement in p and "was replaced" in p for p in found), found


def test_a_deleted_run_is_named(keyed: Keyed) -> None:
    keyed.delete("run_id = 'run-1'")
    found = problems(keyed.report())
    assert any("'run-1'" in p and "whole chain is missing" in p for p in found), found


def test_a_deleted_checkpoint_and_the_records_it_covered_show_against_the_file(keyed: Keyed) -> None:
    ids = keyed.runs["run-1"]
    keyed.delete(f"event_id = '{ids[-1]}'")
    keyed.ledger.command(f"ALTER TABLE {keyed.ledger.database}.chain_checkpoints DELETE WHERE 1",
                         settings={"mutations_sync": 2})
    assert keyed.report(with_file=False).ok  # nothing inside the ledger tells any more...
    found = problems(keyed.report())  # ...the copy outside it does
    assert any("missing from the ledger" in p for p in found), found
    assert any("'run-1'" in p and "were deleted" in p for p in found), found


def test_an_altered_checkpoint_is_named(keyed: Keyed) -> None:
    keyed.ledger.command(f"ALTER TABLE {keyed.ledger.database}.chain_checkpoints UPDATE lengths = "
                         "arrayMap(x -> x - 1, lengths) WHERE 1", settings={"mutations_sync": 2})
    found = problems(keyed.report(with_file=False))
    assert any("the checkpoint was altered" in p for p in found), found


def test_keys_rotate_and_a_retired_key_must_stay_configured(keyed: Keyed) -> None:
    heads = ChainHeads()
    heads.put(("agent_events", "run-0"), (STEPS, keyed.hash_of(keyed.runs["run-0"][-1])))
    _, landed = land(heads, [incoming(event("run-0", STEPS + 1), 99)], set(), K2)
    insert(keyed.ledger, landed.columns)
    report = keyed.report()
    assert report.ok, problems(report)
    only_new = LedgerKeys({K2.key_id: K2.secret}, K2.key_id, "WARDEN_LEDGER_KEYS")
    report = keyed.report(only_new)
    assert not report.ok and not report.broken  # not tampered: unverifiable, and said so
    assert any("'k1', which is not configured" in str(u) for u in report.unverifiable)


def test_a_legacy_ledger_verifies_and_is_reported_as_legacy(ledger: Ledger, tmp_path: Path) -> None:
    """Rows an older Warden wrote (plain SHA-256, no key id, no checkpoint) are legacy, not tampered."""
    _, landed = land(ChainHeads(), [incoming(event("old", s), s) for s in (1, 2)], set())
    insert(ledger, landed.columns)
    report = verify(ledger, KEYS)
    assert report.ok, problems(report)
    assert (report.legacy_records, report.legacy_chains, report.keyed_records) == (2, 1, 0)
    # The upgraded sink's first checkpoint covers the legacy chains: an unkeyed record after it is forged.
    CheckpointLog(ledger, K1, 3600).start()
    assert verify(ledger, KEYS).ok
    heads = ChainHeads()
    heads.put(("agent_events", "old"), (2, str(ledger.scalar(
        f"SELECT hash FROM {ledger.database}.agent_events WHERE chain_seq = 2"))))
    _, forged = land(heads, [incoming(event("old", 3), 3)], set())
    insert(ledger, forged.columns)
    found = problems(verify(ledger, KEYS))
    assert any("no checkpoint covers" in p for p in found), found
