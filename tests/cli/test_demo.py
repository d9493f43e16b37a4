"""`warden demo` end to end as a newcomer runs it: the session's demo (tests/demo_stack.py: the whole
story, ~30,000 events), queried while it runs, then stopped and read as the ledger it leaves behind.

It used to run a second, smaller demo of its own (`--events 2000 --no-rollouts`, about a minute); every
check it made holds on the session's demo, which the other demo tests read anyway. So it runs last
(marker stops_demo), while the stack is up for what asks the running stack, then stops it (Ctrl-C) for
what a newcomer does afterwards: verify, report and query straight from the files, replay."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.demo_stack import DEMO_EVENTS, DemoLedger
from warden.stack import warden_command

pytestmark = pytest.mark.integration

COSTS_SQL = ("SELECT tenant_id, workflow, model, route, sum(cost_usd) AS usd FROM warden.cost_rollups "
             "WHERE window = '1m' AND model != '' GROUP BY tenant_id, workflow, model, route")


def warden(demo: DemoLedger, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*warden_command(), *args], env=demo.env, capture_output=True, text=True, timeout=300)


def count_events(demo: DemoLedger) -> int:
    counted = warden(demo, "query", "-f", "csv", "SELECT count() FROM warden.agent_events")
    assert counted.returncode == 0, counted.stderr
    return int(counted.stdout.split()[-1])


@pytest.mark.stops_demo
def test_demo_lands_everything_and_the_ledger_answers_afterwards(demo_ledger: DemoLedger, tmp_path: Path) -> None:
    data = demo_ledger.settings.data_dir
    out = "".join(demo_ledger.output)
    assert "Events read back from ClickHouse" in out
    assert "Dead letters" in out
    assert "unknown schema id 999" in out
    assert "Risk scores of tool calls" in out and "riskiest run of this demo:" in out
    assert "warden query" in out and "ledger verify" in out
    assert "Once you have stopped the stack (Ctrl-C here), verify every hash chain" in out  # --keep-running
    assert "cost stream = SQL over raw events" in out
    assert "Cost per task" in out
    assert (data / "demo-events.jsonl").exists()
    assert str((data / "report.html").resolve()) in "".join(out.split())  # the demo says where

    # While it runs: through the stack's loopback endpoint.
    events = count_events(demo_ledger)
    assert events >= DEMO_EVENTS
    checked = warden(demo_ledger, "cost", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "stream and SQL agree" in checked.stdout
    live = warden(demo_ledger, "query", "-f", "json", COSTS_SQL)
    assert live.returncode == 0, live.stderr
    live_totals = {(r["tenant_id"], r["workflow"], r["model"], r["route"]): r["usd"]
                   for r in map(json.loads, live.stdout.splitlines())}

    demo_ledger.stop()  # Ctrl-C: the stack goes, the ledger stays
    assert demo_ledger.process.returncode == 0, "".join(demo_ledger.output)[-3000:]
    assert count_events(demo_ledger) == events  # now straight from the chDB files
    verified = warden(demo_ledger, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    reported = warden(demo_ledger, "report", "--out", str(tmp_path / "r.html"))  # the stack is down: chDB directly
    assert reported.returncode == 0, reported.stderr
    assert "panels have data" in reported.stdout and (tmp_path / "r.html").stat().st_size > 10_000
    replayed = warden(demo_ledger, "replay", str(data / "demo-events.jsonl"), "--out", str(tmp_path / "replay"))
    assert replayed.returncode == 0, replayed.stderr
    replay_totals: dict[tuple[str, ...], float] = {}
    for line in (tmp_path / "replay" / "costs.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["window"] == "1m" and row["model"]:
            key = (row["tenant_id"], row["workflow"], row["model"], row["route"])
            replay_totals[key] = replay_totals.get(key, 0.0) + row["cost_usd"]
    assert live_totals.keys() == replay_totals.keys()
    assert all(abs(live_totals[k] - replay_totals[k]) < 0.005 for k in live_totals)  # the same to the cent
