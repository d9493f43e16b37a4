"""How far a stop-ship's automatic kill switch reaches: the workflow, one tenant's runs of it, or (for a
candidate release under rollout) nowhere, since the rollout-controller rolls the candidate back."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from tests.core.samples import AT, event
from tests.core.test_rollout_assign import stage
from warden.core import topics
from warden.core.errors import ConfigError
from warden.core.events import AgentEvent
from warden.core.output import Output
from warden.core.records import Control, Decision, PolicyDecision, RolloutStatus
from warden.policy.bundle import DEFAULT_POLICIES, Bundle, load_bundle
from warden.policy_evaluator.processor import EvaluatorState, step
from warden.rollout.controller import stage_record


def bundle_with(tmp_path: Path, triage_lines: str) -> Bundle:
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICIES, target)
    workflows = target / "workflows.toml"
    workflows.write_text(workflows.read_text().replace('[workflows.triage_ticket]\n',
                                                       f'[workflows.triage_ticket]\n{triage_lines}\n'))
    return load_bundle(target)


def call(tool_action: str, params: dict[str, object], tenant: str = "acme", run_id: str = "run-1",
         seconds: int = 0, workflow: str = "triage_ticket") -> AgentEvent:
    tool, action = tool_action.split(".")
    return event("tool_call_requested", workflow=workflow, run_id=run_id, tenant_id=tenant,
                 occurred_at=AT + timedelta(seconds=seconds),
                 body={"call_id": f"c-{run_id}-{seconds}", "tool": tool, "action": action, "resource": None,
                       "params": json.dumps(params)})


def started(run_id: str, release: str, workflow: str = "refund_ticket") -> AgentEvent:
    return event("run_started", run_id=run_id, workflow=workflow,
                 body={"workflow_version": release, "prompt_version": "p", "model": "m", "release": release})


def switches(outputs: list[Output]) -> list[Control]:
    return [o.record for o in outputs if isinstance(o.record, Control)]


def verdict(outputs: list[Output]) -> PolicyDecision:
    [decision] = [o.record for o in outputs if isinstance(o.record, PolicyDecision)
                  and o.topic == topics.POLICY_DECISIONS]
    return decision


def test_the_default_scope_halts_the_workflow_for_every_tenant() -> None:
    state, outputs = step(EvaluatorState(), load_bundle(), call("crm.delete_record", {"record_id": "r"}))
    assert [s.scope for s in switches(outputs)] == ["workflow:triage_ticket"]
    state, outputs = step(state, load_bundle(), call("crm.lookup", {"customer_id": "c"}, "globex", "run-2", 5))
    assert verdict(outputs).decision == Decision.DENY


def test_tenant_workflow_scope_halts_only_the_tripping_tenants_runs(tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path, 'stop_ship_scope = "tenant_workflow"')
    state, outputs = step(EvaluatorState(), bundle, call("crm.delete_record", {"record_id": "r"}))
    [switch] = switches(outputs)
    assert switch.scope == "tenant:acme/workflow:triage_ticket" and switch.active
    state, outputs = step(state, bundle, call("crm.lookup", {"customer_id": "c"}, "globex", "run-2", 5))
    assert verdict(outputs).decision == Decision.ALLOW  # another tenant's runs go on
    state, outputs = step(state, bundle, call("crm.lookup", {"customer_id": "c"}, "acme", "run-3", 6))
    assert verdict(outputs).decision == Decision.DENY
    assert "kill switch tenant:acme/workflow:triage_ticket" in verdict(outputs).reason
    state, outputs = step(state, bundle, call("tickets.update", {"ticket_id": "t", "status": "solved", "comment": "c"},
                                              "acme", "run-4", 7, workflow="refund_ticket"))
    assert verdict(outputs).decision == Decision.ALLOW  # the same tenant's other workflows go on


def test_an_unknown_scope_refuses_the_bundle(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="stop_ship_scope must be one of workflow, tenant_workflow, got 'planet'"):
        bundle_with(tmp_path, 'stop_ship_scope = "planet"')


def test_a_candidate_runs_stop_ship_sets_no_switch_a_baseline_runs_does() -> None:
    bundle = load_bundle()
    state = EvaluatorState()
    at_5 = stage(5).model_copy(update={"step_started_at": AT})  # the runs below start with the step
    for record in (stage_record(at_5, AT, "warden:rollout-controller", "5%"), started("cand", "v4"),
                   started("base", "v3")):
        state, _ = step(state, bundle, record)
    delete: dict[str, object] = {"record_id": "r"}
    state, outputs = step(state, bundle, call("crm.delete_record", delete, run_id="cand", workflow="refund_ticket"))
    assert verdict(outputs).stop_ship and verdict(outputs).decision == Decision.DENY  # still denied, and marked
    assert switches(outputs) == []  # the rollout-controller rolls the candidate back; the baseline runs on
    state, outputs = step(state, bundle, call("crm.delete_record", delete, run_id="base", seconds=2,
                                              workflow="refund_ticket"))
    assert [s.scope for s in switches(outputs)] == ["workflow:refund_ticket"]


def test_after_a_rollback_a_candidate_run_is_treated_as_any_other() -> None:
    bundle = load_bundle()
    state = EvaluatorState()
    for record in (stage_record(stage(5), AT, "x", ""), started("cand", "v4"),
                   stage_record(stage(0, RolloutStatus.ROLLED_BACK, seq=2), AT, "x", "")):
        state, _ = step(state, bundle, record)
    _, outputs = step(state, bundle, call("crm.delete_record", {"record_id": "r"}, run_id="cand",
                                          workflow="refund_ticket"))
    assert [s.scope for s in switches(outputs)] == ["workflow:refund_ticket"]


def test_a_candidate_run_begun_before_its_rollouts_step_started_still_trips_the_switch() -> None:
    """A plan's start_at ahead of the clock: the stage is live at once, but the rollout-controller tracks no run
    that began before the step started, so it never rolled such a run back; the evaluator set no switch either."""
    bundle = load_bundle()
    state = EvaluatorState()
    later = stage(5).model_copy(update={"step_started_at": AT + timedelta(hours=1)})
    for record in (stage_record(later, AT, "warden:rollout-controller", "5% from the next hour"),
                   started("early", "v4")):
        state, _ = step(state, bundle, record)
    _, outputs = step(state, bundle, call("crm.delete_record", {"record_id": "r"}, run_id="early",
                                          workflow="refund_ticket"))
    assert [s.scope for s in switches(outputs)] == ["workflow:refund_ticket"]
