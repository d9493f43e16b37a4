"""A plan with require_eval starts only with a passing eval of the candidate in the ledger's eval_runs
(landed by the sink's own code), and the controller refuses a start of such a plan that carries none."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.rollout.helpers import T0, WORKFLOW, decisions, feed, plan, run, summary
from warden.core import topics
from warden.core.records import EvalRun, RolloutAction, RolloutCommand
from warden.ledger.client import Ledger
from warden.ledger.readonly import run_readonly
from warden.ledger_rows.tables import TABLES_BY_NAME
from warden.ledger_sink.processor import ChainHeads, Incoming, land
from warden.rollout.controller import ControllerState, command_record
from warden.rollout.evidence import EvalMissing, require_passing_eval
from warden.rollout.plan import RolloutPlan, parse_plan

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


def eval_run(eval_run_id: str, completed_at: datetime, met: bool, release: str = "v4",
             workflows: tuple[str, ...] = (WORKFLOW,)) -> EvalRun:
    return EvalRun(eval_run_id=eval_run_id, started_at=completed_at - timedelta(minutes=3), completed_at=completed_at,
                   dataset="evals/golden.jsonl", dataset_sha256="0" * 64, agent="warden.evals.reference_agent:agent",
                   tenant_id="eval", release=release, model="m", prompt_version="p1", tool_schema_hash="t",
                   policy_bundle_hash="b", workflows=list(workflows), items=208, passed=200 if met else 150,
                   success_rate=200 / 208 if met else 150 / 208, success_rate_ci95_low=0.6, success_rate_ci95_high=0.99,
                   violation_rate=0.0, cost_per_task_usd=0.01, latency_p95_s=1.0, met_targets=met,
                   missed_targets=[] if met else ["task_success_rate_min"])


def landed(ledger: Ledger, *runs: EvalRun) -> Any:
    batch = [Incoming(topics.EVAL_RUNS, 0, n, r.eval_run_id, r) for n, r in enumerate(runs)]
    _, out = land(ChainHeads(), batch, set())
    for table, columns in out.columns.items():
        ledger.insert(table, TABLES_BY_NAME[table].insert_columns, columns)

    def query(sql: str) -> tuple[list[str], list[list[Any]]]:
        columns, rows = run_readonly(ledger, sql)
        return columns, [list(r) for r in rows]
    return query


def evaluated() -> RolloutPlan:
    return plan(require_eval=True, eval_max_age_days=7)


def test_the_plan_keys_read_from_toml_and_stay_out_of_a_plan_that_does_not_require_an_eval() -> None:
    read = parse_plan({"rollout": {"workflow": WORKFLOW, "baseline": "v3", "candidate": "v4", "require_eval": True,
                                   "eval_max_age_days": 3}}, "plan.toml")
    assert (read.require_eval, read.eval_max_age_days) == (True, 3)
    assert RolloutPlan.from_json(read.to_json()) == read
    assert "require_eval" not in json.loads(plan().to_json())  # a controller from before reads it as before
    with pytest.raises(Exception, match="eval_max_age_days"):
        parse_plan({"rollout": {"workflow": WORKFLOW, "baseline": "v3", "candidate": "v4",
                                "eval_max_age_days": 0}}, "plan.toml")


@pytest.mark.integration
def test_a_start_needs_the_latest_recent_eval_of_the_candidate_to_have_met_its_targets(ledger: Ledger) -> None:
    none = landed(ledger)
    with pytest.raises(EvalMissing, match=r"eval_runs has none completed in the last 7 days.*--release v4 --emit"):
        require_passing_eval(none, evaluated(), NOW, ledger.database)
    query = landed(ledger, eval_run("old-pass", NOW - timedelta(days=9), True),
                   eval_run("other-release", NOW - timedelta(days=1), True, release="v5"),
                   eval_run("other-workflow", NOW - timedelta(days=1), True, workflows=("triage_ticket",)))
    with pytest.raises(EvalMissing, match="none completed in the last 7 days"):  # too old, or not this candidate
        require_passing_eval(query, evaluated(), NOW, ledger.database)
    query = landed(ledger, eval_run("pass-1", NOW - timedelta(days=3), True))
    found = require_passing_eval(query, evaluated(), NOW, ledger.database)
    assert found.eval_run_id == "pass-1" and "met its targets" in found.describe()
    query = landed(ledger, eval_run("fail-2", NOW - timedelta(days=1), False))
    with pytest.raises(EvalMissing, match=r"its latest, fail-2 .* missed task_success_rate_min"):
        require_passing_eval(query, evaluated(), NOW, ledger.database)  # a later failing eval wins


def test_an_unreadable_ledger_refuses_the_start() -> None:
    def broken(sql: str) -> tuple[list[str], list[list[Any]]]:
        from warden.core.errors import LedgerError
        raise LedgerError("connection refused")

    with pytest.raises(EvalMissing, match="could not be read: connection refused"):
        require_passing_eval(broken, evaluated(), NOW)


def start(p: RolloutPlan, eval_run_id: str | None) -> Any:
    return command_record(RolloutCommand(command_id=f"start-{p.workflow}", action=RolloutAction.START,
                                         workflow=p.workflow, plan=p.to_json(), rationale="ship v4",
                                         eval_run_id=eval_run_id), "owner@acme", T0)


def test_the_controller_refuses_a_start_without_the_eval_and_names_the_eval_it_started_on() -> None:
    refused = ControllerState()
    assert feed(refused, [start(evaluated(), None)]) == [] and not refused.rollouts
    state = ControllerState()
    outputs = feed(state, [start(evaluated(), "pass-1")])
    assert summary(outputs) == [("start", 0, 5)]
    assert decisions(outputs)[0].reason.endswith("; eval pass-1 of v4 met its targets")
    assert state.rollouts[WORKFLOW].plan.require_eval


def test_replay_of_such_a_plan_takes_the_eval_the_live_start_recorded(tmp_path: Any) -> None:
    from warden.core.errors import ConfigError
    from warden.replay.runner import ROLLOUTS_FILE, replay

    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e.to_json_view()) + "\n" for e in run("r1", "v4", T0)))
    with pytest.raises(ConfigError, match=r"requires a passing eval of v4 .* \(--eval-run\)"):
        replay(events, tmp_path / "out", rollout=evaluated())
    replay(events, tmp_path / "out", rollout=evaluated(), eval_run_id="pass-1")
    lines = [json.loads(line) for line in (tmp_path / "out" / ROLLOUTS_FILE).read_text().splitlines()]
    assert lines[0]["decision"] == "start" and lines[0]["reason"].endswith("eval pass-1 of v4 met its targets")
