"""`warden eval watch`: re-run a suite when the release fingerprint changed, compare with the last passing run.

The checklist's nightly regression on model, prompt, tool-schema and policy changes: the fingerprint
is what a result depends on: the agent (MODULE:FUNC), the model and prompt version it declares, the
inventory's hash and the policy bundle's hash, plus the dataset's bytes. When any part
differs from the suite's last run, the suite runs again and is compared (warden.evals.compare)
with the last run that passed; when nothing changed, nothing runs and the last verdict stands (a
nightly job stays red until something changes, instead of going green by not looking).

State, one small JSON file (default DATA_DIR/evals/watch.json), per suite (dataset and tags):
    {"fingerprint": {...}, "last_run": {run}, "last_passing": {run} | null}
with run = {dir, eval_run_id, at, exit_code, passed, changes}.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warden.core.errors import ConfigError
from warden.evals.compare import Comparison, Thresholds, compare, load_run_dir
from warden.evals.compare_render import to_html, to_markdown
from warden.evals.runner import AgentSpec, EvalConfig, run_eval
from warden.policy.bundle import load_bundle
from warden.tool_proxy.inventory import load_inventory

PARTS = ("agent", "model", "prompt_version", "tool_schema_hash", "policy_bundle_hash", "dataset_sha256")
STATE_VERSION = 1


def fingerprint(agent: AgentSpec, config: EvalConfig, dataset: Path) -> dict[str, str]:
    """What the suite's result depends on, computed without running it."""
    try:
        data = dataset.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the dataset {dataset}: {exc}") from exc
    return {"agent": agent.ref, "model": agent.model, "prompt_version": agent.prompt_version,
            "tool_schema_hash": load_inventory(config.inventory).version,
            "policy_bundle_hash": load_bundle(config.policies).version,
            "dataset_sha256": hashlib.sha256(data).hexdigest()}


def changes(previous: dict[str, Any] | None, current: dict[str, str]) -> list[str]:
    """Each part that differs, as `part: old -> new`; a suite never run has one change, "first run"."""
    if previous is None:
        return ["first run"]
    return [f"{part}: {previous.get(part)} -> {current[part]}" for part in PARTS if previous.get(part) != current[part]]


def suite_key(dataset: Path, config: EvalConfig) -> str:
    """A suite is a dataset and a tag selection; a new agent for it is a change like a new model."""
    return f"{dataset.resolve()}|{','.join(sorted(config.tags))}"


def read_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"version": STATE_VERSION, "suites": {}}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the watch state {path} is not readable JSON ({exc}); move it away to start over") from exc
    if not isinstance(state, dict) or not isinstance(state.get("suites"), dict):
        raise ConfigError(f"the watch state {path} has no `suites` object; move it away to start over")
    return state


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Atomically: a watcher killed mid-write leaves the previous state, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class WatchOutcome:
    ran: bool
    changes: list[str]
    exit_code: int  # 0 passed (or unchanged since a pass), 1 regression or missed target, 2 bad input
    run_dir: Path | None = None
    baseline: Path | None = None
    comparison: Comparison | None = None
    notes: list[str] = field(default_factory=list)


def watch_once(dataset: Path, agent: AgentSpec, config: EvalConfig, state_file: Path, runs_dir: Path,
               thresholds: Thresholds | None = None, force: bool = False) -> WatchOutcome:
    state = read_state(state_file)
    key = suite_key(dataset, config)
    entry: dict[str, Any] = state["suites"].get(key, {})
    current = fingerprint(agent, config, dataset)
    changed = changes(entry.get("fingerprint"), current)
    last = entry.get("last_run")
    if not changed and not force and last is not None:
        return WatchOutcome(False, [], int(last["exit_code"]), Path(last["dir"]),
                            notes=[f"fingerprint unchanged since {last['at']} ({last['dir']}): nothing to run; "
                                   f"that run {'passed' if last['passed'] else 'did not pass'}"])
    at = datetime.now(UTC)
    short = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:8]
    run_dir = runs_dir / f"{at:%Y%m%dT%H%M%SZ}-{short}"
    report = run_eval(dataset, agent, run_dir, config)
    outcome = WatchOutcome(True, changed or ["forced"], report.exit_code, run_dir)
    baseline = entry.get("last_passing")
    if baseline is not None and Path(baseline["dir"]).is_dir():
        outcome.baseline = Path(baseline["dir"])
        outcome.comparison = compare(load_run_dir(outcome.baseline), load_run_dir(run_dir), thresholds)
        (run_dir / "compare.md").write_text(to_markdown(outcome.comparison), encoding="utf-8")
        (run_dir / "compare.html").write_text(to_html(outcome.comparison), encoding="utf-8")
        if outcome.comparison.regressed and outcome.exit_code == 0:
            outcome.exit_code = 1
    elif baseline is not None:
        outcome.notes.append(f"the last passing run's directory {baseline['dir']} is gone: not compared")
    else:
        outcome.notes.append("no earlier passing run of this suite: nothing to compare with")
    passed = outcome.exit_code == 0
    record = {"dir": str(run_dir), "eval_run_id": report.eval_run_id, "at": at.isoformat(),
              "exit_code": outcome.exit_code, "passed": passed, "changes": outcome.changes}
    state["suites"][key] = {"fingerprint": current, "last_run": record,
                            "last_passing": record if passed else baseline}
    write_state(state_file, state)
    return outcome
