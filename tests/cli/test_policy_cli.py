"""The policy and approval commands as a person runs them (switches: test_control_cli.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.cli.test_up import clean_env
from tests.ledger_sink.helpers import simulated
from warden.broker.tansu import free_port
from warden.policy.bundle import DEFAULT_POLICIES
from warden.stack import warden_command


def warden(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*warden_command(), *args], capture_output=True, text=True, timeout=120,
                          env=env or clean_env(COLUMNS="200"))


def test_policy_test_passes_on_the_reference_bundle_and_fails_on_a_broken_case(tmp_path: Path) -> None:
    ok = warden("policy", "test")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "18 passed, 0 failed" in ok.stdout
    cases = tmp_path / "cases.yaml"
    cases.write_text("- name: deletes are fine\n  request: {workflow: triage_ticket, tool: crm, "
                     "action: delete_record, params: {record_id: r}}\n  expect: allow\n")
    failed = warden("policy", "test", str(cases))
    assert failed.returncode == 1
    assert "FAIL" in failed.stdout and "0 passed, 1 failed" in failed.stdout


def test_policy_validate_refuses_a_typo_before_deploy(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(DEFAULT_POLICIES, bundle)
    source = bundle / "reference.cedar"
    source.write_text(source.read_text().replace("context.params.role", "context.params.rol"))
    done = warden("policy", "validate", str(bundle))
    assert done.returncode == 1
    assert "privileged-grant" in done.stderr and "rol" in done.stderr


def test_policy_diff_counts_changed_calls_per_rule(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e.to_json_view()) + "\n" for e in simulated(4000, "diff")))
    new = tmp_path / "new"
    shutil.copytree(DEFAULT_POLICIES, new)
    (new / "reference.cedar").write_text((new / "reference.cedar").read_text().replace('"100.0"', '"1000.0"'))
    done = warden("policy", "diff", str(DEFAULT_POLICIES), str(new), "--on", str(events))
    assert done.returncode == 0, done.stderr
    assert "recorded calls change decision" in done.stdout
    assert "require_approval" in done.stdout and "refund-over-100" in done.stdout


def test_approvals_cli_needs_a_token_and_names_an_unreachable_service() -> None:
    no_token = warden("approvals", "list")
    assert no_token.returncode == 2 and "approver token is required" in no_token.stderr
    url = f"http://127.0.0.1:{free_port()}"
    unreachable = warden("approvals", "list", "--token", "t",
                         env=clean_env(WARDEN_APPROVALS_URL=url, COLUMNS="200"))
    assert unreachable.returncode == 1 and url in unreachable.stderr
