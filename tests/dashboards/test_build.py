"""dashboards/*.json carry what the workflow targets and the price table produce (`warden dashboards
build`), never numbers copied by hand: a changed target changes the thresholds and the text."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from tests.cli.test_up import clean_env
from warden.core.workflows import DEFAULT_WORKFLOWS_FILE
from warden.dashboards.build import SPECS, Sources, build_all, stale
from warden.dashboards.model import DASHBOARDS_DIR, load_all
from warden.stack import warden_command

BUILT = build_all()


def test_checked_in_dashboards_are_what_the_sources_produce() -> None:
    assert stale(BUILT) == [], "run `warden dashboards build` and commit dashboards/*.json"


def test_every_panel_that_states_a_target_has_its_thresholds() -> None:
    for built in BUILT:
        for panel in (p for p in built.raw["panels"] if p["type"] != "row"):
            states = bool(re.search(r"\btarget\b", panel["description"], re.I))
            assert states == (panel["id"] in built.goals), (built.path.name, panel["title"])
            if panel["type"] == "stat":  # Grafana's default thresholds draw any value green
                assert panel["fieldConfig"]["defaults"]["color"]["mode"] in ("thresholds", "fixed"), panel["title"]
    assert sum(len(b.goals) for b in BUILT) >= 8
    uids = {b.raw["uid"] for b in BUILT}
    assert set(SPECS) <= uids


def test_a_changed_target_changes_thresholds_and_description(tmp_path: Path) -> None:
    workflows = tmp_path / "workflows.toml"
    text = DEFAULT_WORKFLOWS_FILE.read_text()
    assert "violation_rate_max = 0.02\n" in text
    workflows.write_text(text.replace("violation_rate_max = 0.02\n", "violation_rate_max = 0.05\n").replace(
        "[workflows.refund_ticket]\n", "[workflows.refund_ticket]\ntargets = { task_success_rate_min = 0.95 }\n"))
    built = {b.raw["uid"]: b for b in build_all(Sources.load(workflows))}["warden-operations"]
    panels = {p["title"]: p for p in built.raw["panels"]}
    violation = panels["Policy violation rate"]
    assert [s["value"] for s in violation["fieldConfig"]["defaults"]["thresholds"]["steps"]][1] > 0.05 > 0.0499
    assert re.search(r"Target ≤ 5% \(\S+/workflows\.toml \[defaults\.targets\] violation_rate_max\)\.$",
                     violation["description"]), violation["description"]
    success = panels["Run success rate"]["description"]
    assert "Target ≥ 90%" in success and "set by the workflow itself: refund_ticket ≥ 95%" in success


def test_build_cli_checks_and_rewrites(tmp_path: Path) -> None:
    folder = tmp_path / "dashboards"
    shutil.copytree(DASHBOARDS_DIR, folder)
    path = folder / "warden-spend.json"
    raw = json.loads(path.read_text())
    raw["panels"][2]["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] = 0.5  # a number copied by hand
    path.write_text(json.dumps(raw, indent=2))
    env = clean_env(COLUMNS="200")
    check = subprocess.run([*warden_command(), "dashboards", "build", "--check", "--dashboards", str(folder)],
                           env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 1 and "warden-spend.json differ" in check.stderr, check.stderr
    done = subprocess.run([*warden_command(), "dashboards", "build", "--dashboards", str(folder)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "rewrote warden-spend.json" in done.stdout, done.stdout + done.stderr
    assert path.read_text() == (DASHBOARDS_DIR / "warden-spend.json").read_text()
    assert [b.uid for b in load_all(folder)] == [b.uid for b in load_all()]
