"""A restart of the embedded stack forgets processor offsets and keeps the notifier's outbox."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.ledger_sink.helpers import wait_for
from tests.notifier.test_service import alerts, publish
from warden.broker.tansu import free_port
from warden.core.settings import WardenSettings
from warden.notifier.settings import NotifierSettings
from warden.stack import Stack
from warden.state.reset import DURABLE, forget_offsets
from warden.state.snapshots import SnapshotStore


def test_snapshots_go_and_the_outbox_stays(tmp_path: Path) -> None:
    settings = NotifierSettings(data_dir=tmp_path)
    assert settings.outbox_path.parent.parent == settings.state_dir  # the outbox is where DURABLE says
    assert settings.outbox_path.relative_to(settings.state_dir).parts[0] in DURABLE
    SnapshotStore(settings.state_dir / "warden-risk-scorer").save("agent.events", 0, 42, {"x": 1})
    settings.outbox_path.parent.mkdir(parents=True)
    settings.outbox_path.write_bytes(b"owed")
    (settings.state_dir / "stray.json").write_text("{}")
    removed = forget_offsets(settings.state_dir)
    assert sorted(p.name for p in removed) == ["stray.json", "warden-risk-scorer"]
    assert settings.outbox_path.read_bytes() == b"owed"
    assert SnapshotStore(settings.state_dir / "warden-risk-scorer").load("agent.events", 0) is None
    assert forget_offsets(tmp_path / "absent") == []


def _undelivered(path: Path) -> int:
    try:
        with sqlite3.connect(path) as db:
            return int(db.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[0])
    except sqlite3.OperationalError:
        return -1  # the notifier has created the file but not yet its table


@pytest.mark.integration
def test_undelivered_alerts_survive_a_restart_of_the_embedded_stack(tmp_path: Path) -> None:
    """The README's promise: retries survive a restart (a restart used to delete the outbox)."""
    down = f"http://127.0.0.1:{free_port()}/alerts"  # nothing listens: every delivery stays owed
    settings = WardenSettings(data_dir=tmp_path / "w", embedded_broker_port=free_port())
    outbox = NotifierSettings(data_dir=settings.data_dir).outbox_path
    env = {"WARDEN_ALERTMANAGER_URL": down, "WARDEN_NOTIFY_RETRY_BASE_S": "0.2", "WARDEN_NOTIFY_RETRY_MAX_S": "1"}
    with Stack(settings, ("notifier",), env=env) as stack:
        publish(stack.client_settings(), alerts(3))
        wait_for(lambda: outbox.exists() and _undelivered(outbox) == 3, what="three alerts owed in the outbox")
    with Stack(settings, ("notifier",), env=env):
        log = settings.data_dir / "logs" / "notifier.log"
        wait_for(lambda: "(3 undelivered from before)" in log.read_text(), what="the notifier to pick them up")
        assert _undelivered(outbox) == 3
