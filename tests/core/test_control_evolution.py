"""Rollout records ride on Control as defaulted fields (ADR 0010): readers from before read them as a
switch no call is checked against, and today's readers read the records from before."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.core.samples import every_record
from tests.core.test_rollout_assign import stage
from warden.core.catalog import SCHEMAS_DIR
from warden.core.codec import AvroCodec
from warden.core.errors import DecodeError
from warden.core.records import Control, ControlKind, RolloutDecision
from warden.core.registry import FileSchemaRegistry
from warden.core.switches import Switches
from warden.core.wire import Wire, validate
from warden.rollout.controller import stage_record

NAME = "warden.Control"
AT = datetime(2026, 12, 1, tzinfo=UTC)


def schema_before_rollouts() -> dict[str, dict[str, Any]]:
    schema = json.loads((SCHEMAS_DIR / "control.avsc").read_text())
    old = copy.deepcopy(schema)
    old["fields"] = [f for f in old["fields"] if f["name"] not in ("rollout", "rollout_command")]
    return {NAME: old}


@pytest.fixture
def registry(tmp_path: Path) -> FileSchemaRegistry:
    return FileSchemaRegistry(tmp_path / "registry.json")


def test_a_reader_from_before_sees_a_stage_record_as_a_switch_that_blocks_nothing(registry: FileSchemaRegistry) -> None:
    before, now = AvroCodec(registry, schema_before_rollouts()), Wire(AvroCodec(registry))
    record = stage_record(stage(25), AT, "warden:rollout-controller", "promoted")
    _, fields = before.decode(now.encode(record), NAME)
    assert "rollout" not in fields
    old_view = validate(Control, fields)  # what an old reader's model gets: a valid Control
    assert (old_view.kind, old_view.scope, old_view.active) == (ControlKind.READ_ONLY, "tool:rollout:refund_ticket",
                                                                 False)
    switches = Switches()
    switches.apply(Control(kind=ControlKind.KILL, scope="workflow:refund_ticket", active=True, actor="oncall",
                           reason="r", at=AT))
    before_apply = dict(switches.active)
    switches.apply(old_view)  # inactive: it clears a key no switch uses, and read-only is never checked on tool:
    assert switches.active == before_apply


def test_todays_reader_reads_a_switch_written_before(registry: FileSchemaRegistry) -> None:
    before, now = AvroCodec(registry, schema_before_rollouts()), Wire(AvroCodec(registry))
    switch = Control(kind=ControlKind.KILL, scope="tenant:acme", active=True, actor="oncall", reason="r", at=AT)
    written = {k: v for k, v in switch.to_avro().items() if k not in ("rollout", "rollout_command")}
    decoded = now.decode(before.encode(NAME, written), NAME)
    assert decoded == switch and decoded.is_switch


def test_a_new_record_type_on_the_control_topic_is_what_readers_from_before_refuse(
        registry: FileSchemaRegistry) -> None:
    """The alternative ADR 0010 turned down: a reader expecting warden.Control gets a DecodeError, which the
    SDK's control view before this change did not catch (its thread ended and its switches froze)."""
    now = Wire(AvroCodec(registry))
    other = now.encode(next(r for r in every_record() if isinstance(r, RolloutDecision)))  # any other record type
    with pytest.raises(DecodeError, match=r"expected warden\.Control on this topic"):
        now.decode(other, NAME)


def schema_before_eval_run_id() -> dict[str, dict[str, Any]]:
    schema = json.loads((SCHEMAS_DIR / "control.avsc").read_text())
    old = copy.deepcopy(schema)
    field = next(f for f in old["fields"] if f["name"] == "rollout_command")
    command = next(t for t in field["type"] if isinstance(t, dict))
    command["fields"] = [f for f in command["fields"] if f["name"] != "eval_run_id"]
    return {NAME: old}


def test_a_start_command_with_its_eval_run_id_and_one_from_before_it_read_both_ways(
        registry: FileSchemaRegistry) -> None:
    from warden.core.records import RolloutAction, RolloutCommand
    from warden.rollout.controller import command_record

    before, now = AvroCodec(registry, schema_before_eval_run_id()), Wire(AvroCodec(registry))
    command = RolloutCommand(command_id="c1", action=RolloutAction.START, workflow="refund_ticket", plan="{}",
                             rationale="ship", eval_run_id="eval-1")
    record = command_record(command, "owner@acme", AT)
    _, fields = before.decode(now.encode(record), NAME)
    old_view = validate(Control, fields)
    assert old_view.rollout_command is not None and old_view.rollout_command.eval_run_id is None
    assert old_view.rollout_command.command_id == "c1"
    written = record.to_avro()
    written["rollout_command"] = {k: v for k, v in written["rollout_command"].items() if k != "eval_run_id"}
    decoded = now.decode(before.encode(NAME, written), NAME)
    assert isinstance(decoded, Control) and decoded.rollout_command is not None
    assert decoded.rollout_command.eval_run_id is None and decoded.rollout_command.plan == "{}"
