"""`release_for` from the control topic on the real broker: the stage's split, and the fallback when killed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.core.test_rollout_assign import stage
from warden.core.errors import ValidationError
from warden.core.records import ControlKind, RolloutStatus
from warden.core.rollout_assign import bucket
from warden.core.settings import WardenSettings
from warden.core.workflows import Fallback
from warden.kafka.control import publish, publish_control
from warden.rollout.controller import stage_record
from warden.sdk.async_client import AsyncWardenClient
from warden.sdk.client import WardenClient

AT = datetime(2026, 12, 1, tzinfo=UTC)


def publish_stage(settings: WardenSettings, percent: int, status: RolloutStatus = RolloutStatus.RUNNING,
                  seq: int = 1) -> None:
    record = stage_record(stage(percent, status, seq), AT, "warden:rollout-controller", "test")
    publish_control(settings, record, "rollout:refund_ticket", "a rollout stage")


def test_release_for_follows_the_stage_and_falls_back_when_the_workflow_is_killed(topics: WardenSettings) -> None:
    publish_stage(topics, 25)
    units = [f"ticket-{i}" for i in range(400)]
    with WardenClient(topics, max_wait_s=10) as client:
        chosen = {u: client.release_for("acme", "refund_ticket", u) for u in units}
        assert {u for u, a in chosen.items() if a.release == "v4"} == {u for u in units
                                                                        if bucket("refund_ticket", u) < 2500}
        assert {a.release for a in chosen.values()} == {"v3", "v4"}
        assert client.release_for("acme", "export_report", "ticket-1").release is None  # no rollout there
        publish(topics, ControlKind.KILL, "workflow:refund_ticket", True, "oncall@acme", "bad refunds")
        publish(topics, ControlKind.KILL, "tenant:globex", True, "oncall@acme", "globex paused")
        deadline = datetime.now(UTC).timestamp() + 10
        while client.release_for("acme", "refund_ticket", "ticket-1").fallback is None:
            assert datetime.now(UTC).timestamp() < deadline, "the kill switch never reached the view"
        killed = client.release_for("acme", "refund_ticket", "ticket-1")
        assert (killed.release, killed.fallback) == (None, Fallback.HUMAN_QUEUE)  # refund_ticket's fallback
        while client.release_for("globex", "export_report", "x").fallback is None:
            assert datetime.now(UTC).timestamp() < deadline
        assert client.release_for("globex", "export_report", "x").fallback == Fallback.READ_ONLY
        assert client.release_for("acme", "export_report", "x").fallback is None


def test_read_only_mode_is_not_a_kill_release_for_assigns_and_is_enabled_gates_each_tool(
        topics: WardenSettings) -> None:
    """Read-only mode lets the agent run with its read-only tools: release_for returned the killed workflow's
    fallback (human_queue for refund_ticket) for every unit, on the old code. A kill there still falls back."""
    publish_stage(topics, 25)
    publish(topics, ControlKind.READ_ONLY, "workflow:refund_ticket", True, "oncall@acme", "incident 9")
    publish(topics, ControlKind.READ_ONLY, "global", True, "oncall@acme", "freeze")
    with WardenClient(topics, max_wait_s=10) as client:
        chosen = client.release_for("acme", "refund_ticket", "ticket-1")
        assert chosen.fallback is None
        assert chosen.release == ("v4" if bucket("refund_ticket", "ticket-1") < 2500 else "v3")
        assert not client.is_enabled("acme", "refund_ticket", "payments", "refund")  # a write: refused
        assert client.is_enabled("acme", "refund_ticket", "crm", "lookup")  # a read-only tool: allowed
        publish(topics, ControlKind.KILL, "tenant:acme/workflow:refund_ticket", True, "oncall@acme", "stop-ship")
        deadline = datetime.now(UTC).timestamp() + 10
        while client.release_for("acme", "refund_ticket", "ticket-1").fallback is None:
            assert datetime.now(UTC).timestamp() < deadline, "the kill switch never reached the view"
        assert client.release_for("acme", "refund_ticket", "ticket-1").fallback == Fallback.HUMAN_QUEUE
        assert client.release_for("globex", "refund_ticket", "ticket-1").fallback is None  # another tenant


def test_a_new_client_sees_a_rollback_before_its_first_answer(topics: WardenSettings) -> None:
    publish_stage(topics, 25)
    publish_stage(topics, 0, RolloutStatus.ROLLED_BACK, seq=2)
    with WardenClient(topics, max_wait_s=10) as client:
        assert {client.release_for("acme", "refund_ticket", f"u{i}").release for i in range(300)} == {"v3"}


def test_the_sdk_assigns_releases_without_loading_cedar(topics: WardenSettings) -> None:
    publish_stage(topics, 5)
    code = (
        "import sys, json\n"
        "from warden.core.settings import WardenSettings\n"
        "from warden.sdk.client import WardenClient\n"
        "with WardenClient(WardenSettings(), max_wait_s=10) as c:\n"
        "    a = c.release_for('acme', 'refund_ticket', 'u1')\n"
        "print(json.dumps({'release': a.release, 'cedar': 'cedarpy' in sys.modules}))\n"
    )
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": topics.bootstrap_servers,
           "WARDEN_TOPIC_PREFIX": topics.topic_prefix, "WARDEN_DATA_DIR": str(topics.data_dir)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {"release": "v4" if bucket("refund_ticket", "u1") < 500 else "v3", "cedar": False}


@pytest.mark.parametrize(("args", "named"), [
    (("acme", "refund_ticket", None), "unit None (NoneType)"),
    (("acme", "refund_ticket", ""), "unit '' (str)"),
    (("acme", "refund_ticket", 42), "unit 42 (int)"),
    (("acme", "refund_ticket", b"ticket-1"), "unit b'ticket-1' (bytes)"),
    ((None, "refund_ticket", "ticket-1"), "tenant_id None (NoneType)"),
    (("", "refund_ticket", "ticket-1"), "tenant_id '' (str)"),
    (("acme", None, "ticket-1"), "workflow None (NoneType)"),
])
def test_release_for_refuses_a_unit_tenant_or_workflow_that_is_not_a_non_empty_string(
        topics: WardenSettings, args: tuple[Any, Any, Any], named: str) -> None:
    """Each was hashed as its repr: every None unit shared one bucket, b"ticket-1" was not "ticket-1", and a None
    tenant matched no tenant kill switch, so a killed tenant's agent was told to run the release."""
    publish_stage(topics, 25)
    with WardenClient(topics, max_wait_s=10) as client:
        with pytest.raises(ValidationError) as caught:
            client.release_for(*args)
        assert "release_for takes a non-empty string for tenant_id, workflow and unit; got " + named \
            in str(caught.value)
        with pytest.raises(ValidationError, match="must be text without lone surrogates"):
            client.release_for("acme", "refund_ticket", "ticket-\ud800")  # was a UnicodeEncodeError
        assert client.release_for("acme", "refund_ticket", "ticket-1").rollout_id is not None


def test_the_asyncio_client_assigns_as_the_sync_one(topics: WardenSettings) -> None:
    """AsyncWardenClient had no release_for (README: it has the same methods as coroutines)."""
    publish_stage(topics, 25)
    units = [f"ticket-{i}" for i in range(200)]

    async def assigned() -> list[str | None]:
        async with AsyncWardenClient(topics, max_wait_s=10) as client:
            first = await asyncio.gather(*(client.release_for("acme", "refund_ticket", u) for u in units[:3]))
            rest = [await client.release_for("acme", "refund_ticket", u) for u in units[3:]]
            with pytest.raises(ValidationError):
                await client.release_for("acme", "refund_ticket", "")
            return [a.release for a in [*first, *rest]]

    with WardenClient(topics, max_wait_s=10) as sync:
        expected = [sync.release_for("acme", "refund_ticket", u).release for u in units]
    assert asyncio.run(assigned()) == expected and set(expected) == {"v3", "v4"}


def test_only_a_kill_sends_a_run_to_its_fallback() -> None:
    """Switches.killed, what release_for asks (no broker): read-only mode on any scope is not a kill."""
    from warden.core.records import Control
    from warden.core.switches import Switches

    switches = Switches()
    for kind, scope in ((ControlKind.READ_ONLY, "global"), (ControlKind.READ_ONLY, "tenant:acme"),
                        (ControlKind.READ_ONLY, "workflow:refund_ticket"), (ControlKind.KILL, "tool:payments")):
        switches.apply(Control(kind=kind, scope=scope, active=True, actor="oncall@acme", reason="x", at=AT))
    assert switches.killed("acme", "refund_ticket") is None
    assert not switches.is_enabled("acme", "refund_ticket")  # what release_for asked before: "off"
    for scope in ("global", "tenant:acme", "workflow:refund_ticket", "tenant:acme/workflow:refund_ticket"):
        kill = Switches()
        kill.apply(Control(kind=ControlKind.KILL, scope=scope, active=True, actor="oncall@acme", reason="x", at=AT))
        assert kill.killed("acme", "refund_ticket") is not None, scope
        assert kill.killed("globex", "export_report") is None or scope == "global", scope
