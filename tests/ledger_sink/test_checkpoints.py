"""The live ledger-sink links every row with its ledger key and signs checkpoints, in the ledger and in a
file outside it; deleting the last record of a run it landed is then named (real Tansu, real chDB)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ledger_sink.helpers import produce, simulated, sink_settings, wait_for
from tests.running import in_thread
from warden.core.settings import WardenSettings
from warden.ledger.client import Ledger
from warden.ledger.keys import KEY_FILE
from warden.ledger.verify import verify
from warden.ledger_sink.service import LedgerSink

pytestmark = pytest.mark.integration


def test_the_sink_keys_its_chains_and_checkpoints_them(topics: WardenSettings, ledger: Ledger,
                                                        tmp_path: Path) -> None:
    events = simulated(300, "ckpt")
    produce(topics, events)
    outside = tmp_path / "elsewhere" / "checkpoints.jsonl"
    settings = sink_settings(topics, ledger, batch_max_rows=100, checkpoint_interval_s=0.2, checkpoint_file=outside)
    db = ledger.database
    with in_thread(LedgerSink(settings, ledger).start()):
        wait_for(lambda: int(ledger.scalar(f"SELECT count() FROM {db}.agent_events")) >= 300, what="300 events")
    # The managed key (no WARDEN_LEDGER_KEYS here) is in the data dir, private to its owner.
    key_file = settings.data_dir / KEY_FILE
    assert key_file.stat().st_mode & 0o077 == 0
    current = json.loads(key_file.read_text())["current"]
    assert ledger.rows(f"SELECT DISTINCT hash_key_id FROM {db}.agent_events") == [(current,)]

    runs = {e.run_id for e in events}
    lines = [json.loads(line) for line in outside.read_text().splitlines()]
    assert lines and int(ledger.scalar(f"SELECT count() FROM {db}.chain_checkpoints")) == len(lines)
    covered = {key for line in lines for key in line["chain_keys"]}
    assert covered == runs  # the stop's final checkpoint at the latest: every chain it wrote
    keys = settings.chain_keys()
    report = verify(ledger, keys, outside)
    assert report.ok, report.broken
    assert report.checkpoints == len(lines) and report.keyed_records == 300

    victim_run = events[0].run_id
    last = ledger.rows(f"SELECT event_id FROM {db}.agent_events WHERE run_id = %(r)s "
                       "ORDER BY chain_seq DESC LIMIT 1", {"r": victim_run})[0][0]
    ledger.command(f"ALTER TABLE {db}.agent_events DELETE WHERE event_id = '{last}'", settings={"mutations_sync": 2})
    found = [str(b) for b in verify(ledger, keys, outside).broken or []]
    assert any(victim_run in p and "were deleted" in p for p in found), found
