"""`warden eval watch`: runs on a fingerprint change only, compares with the last passing run, keeps state."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from warden.cli.main import app
from warden.evals.canaries import OUT as CANARIES
from warden.evals.compare import Thresholds
from warden.evals.runner import EvalConfig, load_agent
from warden.evals.watch import changes, fingerprint, read_state, watch_once
from warden.policy.bundle import DEFAULT_POLICIES, load_bundle

AGENT = "warden.evals.reference_agent:agent"
NAIVE = "warden.evals.reference_agent:naive_agent"
SUITE = EvalConfig(tags=("canary:injection",))


def test_changes_name_each_part_that_moved() -> None:
    before = {"agent": "a:f", "model": "m1", "prompt_version": "p1", "tool_schema_hash": "t",
              "policy_bundle_hash": "b1", "dataset_sha256": "d"}
    assert changes(None, before) == ["first run"]
    assert changes(before, dict(before)) == []
    assert changes(before, {**before, "model": "m2", "policy_bundle_hash": "b2"}) == [
        "model: m1 -> m2", "policy_bundle_hash: b1 -> b2"]


def test_runs_once_per_fingerprint_and_compares_with_the_last_passing_run(tmp_path: Path) -> None:
    state, runs = tmp_path / "watch.json", tmp_path / "runs"
    agent = load_agent(AGENT)
    first = watch_once(CANARIES, agent, SUITE, state, runs)
    assert first.ran and first.changes == ["first run"] and first.exit_code == 0
    assert first.comparison is None and "nothing to compare with" in first.notes[0]

    again = watch_once(CANARIES, agent, SUITE, state, runs)
    assert not again.ran and again.exit_code == 0 and "fingerprint unchanged" in again.notes[0]
    assert len(list(runs.iterdir())) == 1

    # A policy bundle that differs only by a comment is another bundle: the suite runs again.
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICIES, policies)
    with (policies / "reference.cedar").open("a") as cedar:
        cedar.write("\n// reviewed\n")
    assert load_bundle(policies).version != load_bundle().version
    moved = EvalConfig(tags=SUITE.tags, policies=policies)
    second = watch_once(CANARIES, agent, moved, state, runs)
    assert second.ran and second.changes == [
        f"policy_bundle_hash: {load_bundle().version} -> {load_bundle(policies).version}"]
    assert second.baseline == first.run_dir and second.comparison is not None
    assert not second.comparison.regressed and second.exit_code == 0
    assert second.run_dir is not None
    assert (second.run_dir / "compare.md").read_text().startswith("## Eval comparison")

    # A new agent for the suite regresses: exit 1, and the last passing run stays the baseline.
    naive = watch_once(CANARIES, load_agent(NAIVE), moved, state, runs)
    assert naive.ran and naive.changes == [f"agent: {AGENT} -> {NAIVE}"]
    assert naive.exit_code == 1 and naive.comparison is not None and naive.comparison.regressed
    assert naive.baseline == second.run_dir
    assert len(naive.comparison.to_fail) == 27
    entry = next(iter(read_state(state)["suites"].values()))
    assert entry["last_passing"]["dir"] == str(second.run_dir) and not entry["last_run"]["passed"]

    # Nothing changed since the failing run: nothing runs, and the failure still stands.
    stays = watch_once(CANARIES, load_agent(NAIVE), moved, state, runs)
    assert not stays.ran and stays.exit_code == 1 and "did not pass" in stays.notes[0]
    forced = watch_once(CANARIES, load_agent(NAIVE), moved, state, runs, Thresholds(max_success_drop=1.0,
                                                                                    max_violation_increase=1.0),
                        force=True)
    assert forced.ran and forced.changes == ["forced"]


def test_fingerprint_covers_the_dataset_bytes(tmp_path: Path) -> None:
    copy = tmp_path / "c.jsonl"
    copy.write_bytes(CANARIES.read_bytes())
    agent = load_agent(AGENT)
    before = fingerprint(agent, SUITE, copy)
    copy.write_bytes(CANARIES.read_bytes().splitlines(keepends=True)[0])
    assert changes(before, fingerprint(agent, SUITE, copy)) == [
        f"dataset_sha256: {before['dataset_sha256']} -> {fingerprint(agent, SUITE, copy)['dataset_sha256']}"]


def test_cli_watch_exit_codes_and_markdown(tmp_path: Path) -> None:
    common = ["eval", "watch", str(CANARIES), "--tags", "canary:pii", "--state", str(tmp_path / "s.json"),
              "--runs-dir", str(tmp_path / "runs")]
    first = CliRunner().invoke(app, [*common, "--agent", AGENT])
    assert first.exit_code == 0, first.output
    assert "first run" in first.output
    md = tmp_path / "cmp.md"
    worse = CliRunner().invoke(app, [*common, "--agent", NAIVE, "--markdown", str(md)])
    assert worse.exit_code == 1, worse.output
    assert "Flipped to fail (21)" in md.read_text()
    assert "REGRESSION: success rate down 100.0 points" in worse.output
    state = json.loads((tmp_path / "s.json").read_text())
    assert list(state["suites"]) == [f"{CANARIES.resolve()}|canary:pii"]
