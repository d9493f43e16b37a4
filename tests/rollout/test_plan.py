"""A plan is read from TOML, refused with the key and what was expected, and gets the workflow's targets."""

from __future__ import annotations

import math
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from tests.rollout.helpers import T0, WORKFLOW, decisions, feed, plan, start_command, traffic
from warden.core.errors import ConfigError
from warden.core.workflows import load_contracts
from warden.rollout.controller import ControllerState
from warden.rollout.plan import (
    MAX_SPAN_MINUTES,
    MIN_JUDGE_EVERY_MINUTES,
    RolloutPlan,
    load_plan,
    parse_plan,
    resolve,
)

ISSUE_PLAN = """
[rollout]
workflow = "refund_ticket"
baseline = "v3"
candidate = "v4"
steps = [5, 25, 100]
min_runs = 200        # completed candidate runs at a step before it is judged
hold_minutes = 30     # event time spent at a step before it is judged
[rollout.gates]       # absent keys come from the workflow's targets
task_success_rate_min = 0.90
violation_rate_max = 0.02
cost_per_task_usd_max = 0.10
latency_p95_s_max = 20
success_drop_vs_baseline_max = 0.02
cost_increase_vs_baseline_max = 0.20
"""


def test_the_issues_plan_reads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(ISSUE_PLAN)
    plan = load_plan(path)
    assert (plan.workflow, plan.baseline, plan.candidate, plan.steps) == ("refund_ticket", "v3", "v4", (5, 25, 100))
    assert (plan.min_runs, plan.hold_minutes, plan.approval_after_step) == (200, 30, 25)
    assert plan.gates.cost_increase_vs_baseline_max == 0.20 and plan.gates.high_severity_rate_max is None


def test_absent_gates_come_from_the_workflows_targets() -> None:
    document = tomllib.loads(ISSUE_PLAN)
    del document["rollout"]["gates"]["violation_rate_max"]
    plan = parse_plan(document, "plan.toml").resolved(load_contracts()["refund_ticket"])
    assert plan.gates.violation_rate_max == 0.02  # [defaults.targets] of policies/workflows.toml
    assert plan.gates.high_severity_rate_max == 0.005
    assert plan.gates.success_drop_vs_baseline_max == 0.02  # the plan's own
    assert RolloutPlan.from_json(plan.to_json()) == plan


@pytest.mark.parametrize(("change", "message"), [
    ({"steps": [25, 5, 100]}, "rollout.steps: steps must increase, got [25, 5, 100]"),
    ({"steps": [5, 25]}, "rollout.steps: the last step must be 100"),
    ({"steps": [0, 100]}, "every step must be a percentage in 1..100, got [0, 100]"),
    ({"min_runs": 0}, "rollout.min_runs: Input should be greater than or equal to 1 (got 0)"),
    ({"hold_minutes": "half an hour"}, "rollout.hold_minutes: Input should be a valid number"),
    ({"candidate": "v3"}, "candidate and baseline must differ, both are 'v3'"),
    ({"stages": [5]}, "rollout.stages: unknown key"),
    ({"gates": {"cost_per_task_max": 0.1}}, "rollout.gates.cost_per_task_max: unknown key"),
    ({"gates": {"violation_rate_max": 2}}, "rollout.gates.violation_rate_max: Input should be less than or equal to 1"),
])
def test_a_bad_key_is_refused_by_name_with_what_was_expected(change: dict[str, object], message: str) -> None:
    document = tomllib.loads(ISSUE_PLAN)
    document["rollout"].update(change)
    with pytest.raises(ConfigError) as caught:
        parse_plan(document, "plan.toml")
    assert message in str(caught.value) and str(caught.value).startswith("plan.toml: ")


def test_a_missing_table_or_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown top-level key\(s\) \['rolout'\]; a plan has only a \[rollout\]"):
        parse_plan({"rolout": {}}, "p.toml")
    with pytest.raises(ConfigError, match=r"expected a \[rollout\] table"):
        parse_plan({}, "p.toml")
    document = tomllib.loads(ISSUE_PLAN)
    del document["rollout"]["candidate"]
    with pytest.raises(ConfigError, match=r"rollout\.candidate: Field required"):
        parse_plan(document, "p.toml")


@pytest.mark.parametrize(("change", "message"), [
    # each of these was accepted, and the controller then raised on the start (OverflowError, or a plan JSON
    # holding null for inf) or judged one cut-off forever (a judging interval below a microsecond)
    ({"hold_minutes": math.inf}, "rollout.hold_minutes: Input should be a finite number (got inf)"),
    ({"hold_minutes": 1e10}, "rollout.hold_minutes: Input should be less than or equal to 527040"),
    ({"max_hold_minutes": math.inf}, "rollout.max_hold_minutes: Input should be a finite number"),
    ({"max_hold_minutes": 1e15}, "rollout.max_hold_minutes: Input should be less than or equal to 527040"),
    ({"judge_every_minutes": 1e-9}, "rollout.judge_every_minutes: Input should be greater than or equal to 0.0166"),
    # careless types read as something else: true as 1, "5" as 5
    ({"steps": [True, 100]}, "rollout.steps.0: Input should be a valid integer (got True)"),
    ({"steps": ["5", "25", "100"]}, "rollout.steps.0: Input should be a valid integer (got '5')"),
    ({"min_runs": True}, "rollout.min_runs: Input should be a valid integer (got True)"),
    ({"min_runs": "200"}, "rollout.min_runs: Input should be a valid integer (got '200')"),
    ({"min_runs": 10**20}, "rollout.min_runs: Input should be less than or equal to 1000000000"),
    ({"hold_minutes": True}, "rollout.hold_minutes: Input should be a valid number (got True)"),
    # names no run can carry
    ({"baseline": "v3 "}, "rollout.baseline: has leading or trailing whitespace, got 'v3 '"),
    ({"candidate": "v\x004"}, "rollout.candidate: contains a NUL character"),
])
def test_a_value_the_controller_cannot_judge_on_is_refused_by_name(change: dict[str, object], message: str) -> None:
    document = tomllib.loads(ISSUE_PLAN)
    document["rollout"].update(change)
    with pytest.raises(ConfigError) as caught:
        parse_plan(document, "plan.toml")
    assert message in str(caught.value), str(caught.value)


def test_the_bounds_leave_every_accepted_plan_startable_by_the_controller() -> None:
    """The longest hold and the shortest judging interval accepted still make cut-offs the controller can
    reach: the start and a judgment do not raise, and a judgment moves the next cut-off on."""
    state = ControllerState()
    longest = plan(hold_minutes=MAX_SPAN_MINUTES, max_hold_minutes=MAX_SPAN_MINUTES)
    feed(state, [start_command(longest)])
    assert state.rollouts[WORKFLOW].next_cutoff == T0 + timedelta(minutes=MAX_SPAN_MINUTES)
    state = ControllerState()
    feed(state, [start_command(plan(hold_minutes=0, judge_every_minutes=MIN_JUDGE_EVERY_MINUTES))])
    outputs = feed(state, traffic(T0, 12, every_s=5))  # a minute of event time: about 60 one-second cut-offs
    # judged at the cut-offs where a run's facts changed the judgment (Step.unchanged_until), one second apart
    held = [d.decided_at for d in decisions(outputs)]
    assert 5 < len(held) <= 13 and held == sorted(set(held))
    assert state.rollouts[WORKFLOW].next_cutoff > held[-1]


def test_a_workflow_the_file_does_not_name_or_a_plan_without_any_gate_is_refused(tmp_path: Path) -> None:
    """A typo of the workflow started a rollout that judged nothing (no targets); with no gate at all the
    controller promoted on min_runs alone."""
    contracts = load_contracts()
    typo = parse_plan({"rollout": {"workflow": "refund_tickt", "baseline": "v3", "candidate": "v4"}}, "p")
    with pytest.raises(ConfigError, match=r"workflow 'refund_tickt' is not in policies/workflows.toml; expected one "
                                          r"of export_report, provision_access, refund_ticket, triage_ticket"):
        resolve(typo, contracts)
    bare = tmp_path / "workflows.toml"
    bare.write_text('[workflows.bare]\ntools = ["crm.lookup"]\n')
    ungated = parse_plan({"rollout": {"workflow": "bare", "baseline": "v3", "candidate": "v4"}}, "p")
    with pytest.raises(ConfigError, match=r"rollout of 'bare' has no gate: .* expected at least one of "
                                          r"task_success_rate_min, "):
        resolve(ungated, load_contracts(bare))
    gated = parse_plan({"rollout": {"workflow": "bare", "baseline": "v3", "candidate": "v4",
                                    "gates": {"cost_increase_vs_baseline_max": 0.2}}}, "p")
    assert resolve(gated, load_contracts(bare)).gates.cost_increase_vs_baseline_max == 0.2
    assert resolve(typo.model_copy(update={"workflow": "refund_ticket"}), contracts).gates.violation_rate_max == 0.02
