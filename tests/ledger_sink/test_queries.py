"""Issue 13: analysts' queries through the running sink's endpoint cannot hurt ingestion.

Runs the real `warden run ledger-sink` process and the real `warden query` CLI. On main the
first query below was refused but left readonly=1 on the chDB connection the sink inserts
through, so its next insert failed and it exited; the second held the sink's one lock for the
query's whole run, so nothing landed until it ended.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from tests.ledger_sink.helpers import produce, simulated, wait_for
from tests.ledger_sink.test_crash import cli, ledger_count, service_env, start_sink
from warden.core.settings import WardenSettings

pytestmark = pytest.mark.integration

COUNT = "SELECT count() FROM warden.agent_events"


def test_a_refused_write_and_an_endless_query_leave_ingestion_running(topics: WardenSettings, tmp_path: Path) -> None:
    events = simulated(600, "analyst")
    # No rows limit, so the endless query runs until its time limit: long enough to see events land meanwhile.
    env = service_env(topics, WARDEN_GROUP_ID=f"sink-{topics.topic_prefix}", WARDEN_BATCH_MAX_MS="100",
                      WARDEN_QUERY_MAX_EXECUTION_S="25", WARDEN_QUERY_MAX_ROWS_READ=str(10**15),
                      WARDEN_QUERY_MAX_BYTES_READ=str(10**16))
    log = tmp_path / "sink.log"
    sink, _ = start_sink(env, topics.data_dir, log)
    try:
        refused = cli(env, "query", "WITH 1 AS x INSERT INTO warden.control_changes (kind) VALUES ('kill')")
        assert refused.returncode == 1
        assert "Cannot execute query in readonly mode" in refused.stderr, refused.stderr

        produce(topics, events[:200])
        wait_for(lambda: sink.poll() is None and ledger_count(topics, COUNT) >= 200, timeout_s=60,
                 what="events to land after the refused write")

        endless: dict[str, str] = {}

        def analyst() -> None:
            done = cli(env, "query", "SELECT count() FROM system.numbers WHERE NOT ignore(sipHash64(number))")
            endless.update(code=str(done.returncode), err=done.stderr)

        query = threading.Thread(target=analyst)
        query.start()
        wait_for(lambda: ledger_count(topics, "SELECT count() FROM system.processes WHERE query LIKE "
                                              "'%system.numbers WHERE NOT ignore%' AND query NOT LIKE '%processes%'")
                 >= 1, timeout_s=30, what="the endless query to be running")
        produce(topics, events[200:])
        landed_while_running: list[bool] = []

        def landed() -> bool:
            if ledger_count(topics, COUNT) < len(events):
                return False
            landed_while_running.append(query.is_alive())
            return True

        wait_for(landed, timeout_s=60, what="events to land while the analyst's query runs")
        query.join(120)
        assert landed_while_running == [True], "the events waited for the analyst's query to end"
        assert endless["code"] == "1"
        assert "stopped by the analyst query limit WARDEN_QUERY_MAX_EXECUTION_S=25" in endless["err"], endless["err"]
        assert ledger_count(topics, "SELECT count() FROM warden.control_changes") == 0
        assert sink.poll() is None, log.read_text()[-3000:]
    finally:
        sink.send_signal(signal.SIGTERM)
        assert sink.wait(30) == 0, log.read_text()[-3000:]


def test_the_default_limits_stop_a_query_that_never_ends(topics: WardenSettings, tmp_path: Path) -> None:
    env = service_env(topics, WARDEN_GROUP_ID=f"sink-{topics.topic_prefix}")
    sink, _ = start_sink(env, topics.data_dir, tmp_path / "sink.log")
    try:
        stopped = cli(env, "query", "SELECT count() FROM system.numbers")
        assert stopped.returncode == 1
        assert "stopped by the analyst query limit WARDEN_QUERY_MAX_" in stopped.stderr, stopped.stderr
        produce(topics, simulated(50, "after-endless"))
        wait_for(lambda: ledger_count(topics, COUNT) >= 50, timeout_s=60, what="events to land after it")
    finally:
        sink.send_signal(signal.SIGTERM)
        assert sink.wait(30) == 0
