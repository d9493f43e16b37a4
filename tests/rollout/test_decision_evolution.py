"""RolloutDecision.commanded_at read both ways: today's reader reads decisions written before it (null: the
controller's own, or a manual one from before), and a reader from before drops it and keeps the rest."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from warden.core.catalog import SCHEMAS_DIR
from warden.core.codec import AvroCodec
from warden.core.records import RolloutDecision, RolloutDecisionKind, RolloutStatus
from warden.core.registry import FileSchemaRegistry
from warden.core.wire import Wire, validate
from warden.ledger_rows.tables import TABLES_BY_NAME

NAME = "warden.RolloutDecision"
AT = datetime(2026, 12, 2, 21, 12, tzinfo=UTC)
GIVEN = datetime(2026, 12, 2, 21, 40, 3, 120000, tzinfo=UTC)


def decision(**changes: Any) -> RolloutDecision:
    base: dict[str, Any] = dict(
        decision_id="d1", rollout_id="r1", workflow="refund_ticket", baseline="v3", candidate="v4", step=5,
        next_step=5, decision=RolloutDecisionKind.PAUSE, status=RolloutStatus.PAUSED, reason="paused at 5% by eve",
        window_start=AT, decided_at=AT, manual=True, actor="eve@acme.com", rationale="complaints")
    return RolloutDecision(**{**base, **changes})


def schema_before_commanded_at() -> dict[str, dict[str, Any]]:
    schema = copy.deepcopy(json.loads((SCHEMAS_DIR / "rollout_decision.avsc").read_text()))
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "commanded_at"]
    return {NAME: schema}


@pytest.fixture
def registry(tmp_path: Path) -> FileSchemaRegistry:
    return FileSchemaRegistry(tmp_path / "registry.json")


def test_a_decision_round_trips_with_the_operators_time(registry: FileSchemaRegistry) -> None:
    wire = Wire(AvroCodec(registry))
    original = decision(commanded_at=GIVEN)
    assert wire.decode(wire.encode(original), NAME) == original


def test_todays_reader_reads_a_decision_written_before(registry: FileSchemaRegistry) -> None:
    before, now = AvroCodec(registry, schema_before_commanded_at()), Wire(AvroCodec(registry))
    original = decision()
    written = {k: v for k, v in original.to_avro().items() if k != "commanded_at"}
    decoded = now.decode(before.encode(NAME, written), NAME)
    assert decoded == original and isinstance(decoded, RolloutDecision) and decoded.commanded_at is None


def test_a_reader_from_before_drops_the_operators_time(registry: FileSchemaRegistry) -> None:
    before, now = AvroCodec(registry, schema_before_commanded_at()), Wire(AvroCodec(registry))
    _, record = before.decode(now.encode(decision(commanded_at=GIVEN)))
    assert "commanded_at" not in record and record["decided_at"] == AT
    old_model = validate(RolloutDecision, record)  # today's model over what an old reader holds: the default
    assert old_model == decision()


def test_the_ledger_hashes_commanded_at_only_when_set() -> None:
    """Rows written before the column existed (null there) keep their hashes; a set value joins the hash."""
    table = TABLES_BY_NAME["rollout_decisions"]
    assert "commanded_at" in table.columns and ("commanded_at", None) in table.added
    chain = {"record_id": "d1", "chain_key": "k", "chain_seq": 1}
    row, with_time = ({**table.to_row(d), **chain} for d in (decision(), decision(commanded_at=GIVEN)))
    assert ["commanded_at", GIVEN] not in table.hashed_values(row)
    assert ["commanded_at", GIVEN] in table.hashed_values(with_time)
