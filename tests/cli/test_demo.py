"""`warden demo` end to end at a small size, as a newcomer runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_up import clean_env
from warden.broker.tansu import free_port
from warden.stack import warden_command

pytestmark = pytest.mark.integration


def test_demo_lands_everything_and_the_ledger_answers_afterwards(tmp_path: Path) -> None:
    env = clean_env(WARDEN_DATA_DIR=str(tmp_path / "w"), WARDEN_EMBEDDED_BROKER_PORT=str(free_port()),
                    WARDEN_QUERY_PORT="0", COLUMNS="160")
    # --no-rollouts: the rollouts take ~30,000 events; the session's demo_ledger plays them (tests/demo)
    done = subprocess.run([*warden_command(), "demo", "--events", "2000", "--no-rollouts"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "Events read back from ClickHouse" in out
    assert "Dead letters" in out
    assert "unknown schema id 999" in out
    assert "Risk scores of tool calls" in out and "riskiest run of this demo:" in out
    assert "warden query" in out and "ledger verify" in out
    assert (tmp_path / "w" / "demo-events.jsonl").exists()
    counted = subprocess.run([*warden_command(), "query", "-f", "csv",
                              "SELECT count() FROM warden.agent_events"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert counted.returncode == 0, counted.stderr
    assert int(counted.stdout.split()[-1]) >= 2000
    verified = subprocess.run([*warden_command(), "ledger", "verify"], env=env, capture_output=True, text=True,
                              timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert str((tmp_path / "w" / "report.html").resolve()) in "".join(out.split())  # the demo says where
    reported = subprocess.run([*warden_command(), "report", "--out", str(tmp_path / "r.html")], env=env,
                              capture_output=True, text=True, timeout=120)  # the stack is down: chDB directly
    assert reported.returncode == 0, reported.stderr
    assert "panels have data" in reported.stdout and (tmp_path / "r.html").stat().st_size > 10_000
    replayed = subprocess.run([*warden_command(), "replay", str(tmp_path / "w" / "demo-events.jsonl"), "--out",
                               str(tmp_path / "replay")], env=env, capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0, replayed.stderr
    assert "cost stream = SQL over raw events" in out
    assert "Cost per task" in out
    checked = subprocess.run([*warden_command(), "cost", "check"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "stream and SQL agree" in checked.stdout
    replay_totals: dict[tuple[str, ...], float] = {}
    for line in (tmp_path / "replay" / "costs.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["window"] == "1m" and row["model"]:
            key = (row["tenant_id"], row["workflow"], row["model"], row["route"])
            replay_totals[key] = replay_totals.get(key, 0.0) + row["cost_usd"]
    live = subprocess.run([*warden_command(), "query", "-f", "json",
                           "SELECT tenant_id, workflow, model, route, sum(cost_usd) AS usd FROM warden.cost_rollups "
                           "WHERE window = '1m' AND model != '' GROUP BY tenant_id, workflow, model, route"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert live.returncode == 0, live.stderr
    live_totals = {(r["tenant_id"], r["workflow"], r["model"], r["route"]): r["usd"]
                   for r in map(json.loads, live.stdout.splitlines())}
    assert live_totals.keys() == replay_totals.keys()
    assert all(abs(live_totals[k] - replay_totals[k]) < 0.005 for k in live_totals)  # the same to the cent
