"""`warden eval` as a person runs it: the golden set through the reference agent, exit codes, bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli.test_up import clean_env
from warden.evals.golden import DEFAULT_PATH
from warden.stack import warden_command


def warden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*warden_command(), *args], capture_output=True, text=True, timeout=300,
                          env=clean_env(COLUMNS="200"))


def test_the_golden_set_passes_its_targets_with_the_reference_agent(tmp_path: Path) -> None:
    done = warden("eval", "run", str(DEFAULT_PATH), "--agent", "warden.evals.reference_agent:agent",
                  "--out", str(tmp_path / "out"), "--release", "ref-1", "--concurrency", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "items passed" in done.stdout and "failed refund-" in done.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["items"] >= 200 and summary["met_targets"] and summary["fingerprint"]["release"] == "ref-1"
    assert len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == summary["items"]


def test_a_missed_target_exits_1_and_bad_input_exits_2(tmp_path: Path) -> None:
    hard = warden("eval", "run", str(DEFAULT_PATH), "--agent", "warden.evals.reference_agent:agent",
                  "--out", str(tmp_path / "hard"), "--tags", "kind:words,kind:half")
    assert hard.returncode == 1, hard.stdout + hard.stderr
    assert "missed target refund_ticket: task_success_rate 0.0" in hard.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(DEFAULT_PATH.read_text().splitlines()[0] + "\n{oops\n")
    broken = warden("eval", "run", str(bad), "--agent", "warden.evals.reference_agent:agent", "--out",
                    str(tmp_path / "bad"))
    assert broken.returncode == 2 and f"{bad}:2" in broken.stderr and "not JSON" in broken.stderr
    assert json.loads((tmp_path / "bad" / "summary.json").read_text())["items"] == 1
    nope = warden("eval", "run", str(bad), "--agent", "no_such_module:agent", "--out", str(tmp_path / "x"))
    assert nope.returncode == 2 and "cannot import the agent module" in nope.stderr


def test_generate_writes_the_checked_in_dataset(tmp_path: Path) -> None:
    done = warden("eval", "generate", "--out", str(tmp_path / "g.jsonl"))
    assert done.returncode == 0 and (tmp_path / "g.jsonl").read_bytes() == DEFAULT_PATH.read_bytes()
