"""Hash chains through the real ClickHouse engine (chDB): intact ledgers verify, tampered ones name the record."""

from __future__ import annotations

from tests.ledger_sink.test_processor import event, incoming
from warden.ledger.client import Ledger
from warden.ledger.verify import verify
from warden.ledger_rows.tables import TABLES_BY_NAME
from warden.ledger_sink.processor import ChainHeads, land


def fill(ledger: Ledger, runs: int = 3, steps: int = 4) -> list[str]:
    batch = [incoming(event(f"run-{r}", s), r * steps + s) for r in range(runs) for s in range(1, steps + 1)]
    _, landed = land(ChainHeads(), batch, set())
    for table, columns in landed.columns.items():
        ledger.insert(table, TABLES_BY_NAME[table].insert_columns, columns)
    return [i.message.event_id for i in batch]  # type: ignore[attr-defined]


def test_an_untouched_ledger_verifies(ledger: Ledger) -> None:
    fill(ledger)
    report = verify(ledger)
    assert report.ok, report.broken
    assert (report.records, report.chains) == (12, 3)


def test_an_edited_record_is_named(ledger: Ledger) -> None:
    ids = fill(ledger)
    victim = ids[5]
    # Tests may tamper; Warden's own code has no UPDATE path.
    ledger.command(f"ALTER TABLE {ledger.database}.agent_events UPDATE params = '{{\"customer_id\": \"x\"}}' "
                   f"WHERE event_id = '{victim}'", settings={"mutations_sync": 2})
    report = verify(ledger)
    assert not report.ok
    assert report.broken is not None
    assert [b.record_id for b in report.broken] == [victim]
    assert "changed after it was written" in str(report.broken[0])


def test_a_removed_record_breaks_the_sequence(ledger: Ledger) -> None:
    ids = fill(ledger)
    ledger.command(f"ALTER TABLE {ledger.database}.agent_events DELETE WHERE event_id = '{ids[1]}'",
                   settings={"mutations_sync": 2})
    report = verify(ledger)
    assert report.broken is not None
    problems = [b.problem for b in report.broken if b.record_id == ids[2]]
    assert any("missing" in p for p in problems), problems
    assert any("prev_hash" in p for p in problems), problems


def test_rows_written_before_a_column_was_added_still_verify(ledger: Ledger) -> None:
    """policy_decisions.stop_ship came in migration 0002: a row hashed without it stays valid."""
    from tests.core.samples import every_record
    from warden.core.records import PolicyDecision
    from warden.ledger_rows.chain import GENESIS, link
    from warden.ledger_rows.tables import TABLES_BY_NAME

    table = TABLES_BY_NAME["policy_decisions"]
    decision = next(r for r in every_record() if isinstance(r, PolicyDecision))
    row = {**table.to_row(decision), "record_id": "old-1", "chain_key": "run-1", "chain_seq": 1,
           "src_topic": "policy.decisions", "src_partition": 0, "src_offset": 0, "prev_hash": GENESIS,
           "hash_key_id": ""}
    old_columns = [c for c in table.base_columns] + ["record_id", "chain_key", "chain_seq"]
    row["hash"] = link(GENESIS, [row[c] for c in old_columns])  # how version 1 hashed it
    ledger.insert(table.name, table.insert_columns, [[row[c]] for c in table.insert_columns])
    assert verify(ledger).ok
    ledger.command(f"ALTER TABLE {ledger.database}.policy_decisions UPDATE stop_ship = true WHERE 1",
                   settings={"mutations_sync": 2})
    assert not verify(ledger).ok  # the added column is still covered once it holds a value
