"""The workflow contract in policies/workflows.toml: descriptions, targets, fallback, stop-ship scope."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.core.errors import ConfigError
from warden.core.workflows import Fallback, StopShipScope, Targets, contract_for, load_contracts
from warden.policy.bundle import load_bundle


def test_the_reference_file_gives_every_workflow_a_contract_with_targets() -> None:
    contracts = load_contracts()
    assert set(contracts) == {"refund_ticket", "export_report", "provision_access", "triage_ticket"}
    refund = contracts["refund_ticket"]
    assert refund.start and refund.end
    assert refund.targets == Targets(task_success_rate_min=0.90, violation_rate_max=0.02, cost_per_task_usd_max=0.10,
                                     latency_p95_s_max=20, high_severity_rate_max=0.005)
    assert contracts["export_report"].fallback is Fallback.READ_ONLY
    assert refund.stop_ship_scope is StopShipScope.WORKFLOW
    load_bundle()  # the Cedar bundle still reads the same file


def test_a_workflow_overrides_one_target_and_keeps_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "workflows.toml"
    path.write_text('[defaults.targets]\ntask_success_rate_min = 0.9\nviolation_rate_max = 0.02\n'
                    '[workflows.w]\ntools = ["a.b"]\n[workflows.w.targets]\nviolation_rate_max = 0.05\n')
    (w,) = load_contracts(path).values()
    assert (w.targets.task_success_rate_min, w.targets.violation_rate_max) == (0.9, 0.05)


def test_a_bad_target_names_the_workflow_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "workflows.toml"
    path.write_text('[workflows.w]\ntools = ["a.b"]\n[workflows.w.targets]\nsuccess_min = 0.9\n')
    with pytest.raises(ConfigError, match=r"workflow 'w'.*targets.success_min"):
        load_contracts(path)
    path.write_text('[workflows.w]\ntools = ["a.b"]\nfallback = "panic"\n')
    with pytest.raises(ConfigError, match="fallback"):
        load_contracts(path)


def test_gates_override_targets_key_by_key() -> None:
    merged = Targets(task_success_rate_min=0.9, cost_per_task_usd_max=0.1).merged(Targets(cost_per_task_usd_max=0.2))
    assert merged == Targets(task_success_rate_min=0.9, cost_per_task_usd_max=0.2)


def test_an_unknown_workflow_has_no_targets() -> None:
    assert contract_for({}, "nope").targets == Targets()
