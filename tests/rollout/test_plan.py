"""A plan is read from TOML, refused with the key and what was expected, and gets the workflow's targets."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from warden.core.errors import ConfigError
from warden.core.workflows import load_contracts
from warden.rollout.plan import RolloutPlan, load_plan, parse_plan

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
