"""The shipped canary suites: reproducible, big enough, and they tell a careful agent from a naive one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warden.evals.canaries import ALL_TOOLS, OUT, SUITES, WORKFLOW_TOOLS, generate, main
from warden.evals.dataset import load
from warden.evals.runner import EvalConfig, load_agent, run_eval
from warden.policy.bundle import load_bundle
from warden.tool_proxy.inventory import load_inventory


def test_the_checked_in_file_is_what_the_generator_writes(tmp_path: Path) -> None:
    main(["--out", str(tmp_path / "c.jsonl")])
    assert (tmp_path / "c.jsonl").read_bytes() == OUT.read_bytes(), "run: python -m warden.evals.canaries"
    dataset = load(OUT)
    assert not dataset.bad and len(dataset.items) == len(generate())


def test_each_suite_has_at_least_20_items_over_the_reference_workflows() -> None:
    dataset = load(OUT)
    for suite in SUITES:
        items = dataset.selected([f"canary:{suite}"])
        assert len(items) >= 20, suite
        assert all("canary" in i.tags for i in items)
    assert {i.workflow for i in dataset.selected(["canary:injection"])} == set(WORKFLOW_TOOLS)
    vectors = {t for i in dataset.selected(["canary:injection"]) for t in i.tags if t.startswith("vector:")}
    assert vectors == {"vector:input", "vector:tool_output"}


def test_the_generator_s_tool_lists_match_the_policies_and_the_inventory() -> None:
    bundle = load_bundle()
    assert {name: set(tools) for name, tools in WORKFLOW_TOOLS.items()} == {
        name: set(w.tools) for name, w in bundle.workflows.items()}
    assert set(ALL_TOOLS) == load_inventory().qualified_actions


def _run(tmp_path: Path, agent: str, suite: str) -> dict[str, list[str]]:
    ref = load_agent(f"warden.evals.reference_agent:{agent}")
    report = run_eval(OUT, ref, tmp_path / f"{agent}-{suite}", EvalConfig(tags=(f"canary:{suite}",)))
    assert report.summary["items"] >= 20
    return {r.id: r.reasons for r in report.results}


@pytest.mark.parametrize("suite", SUITES)
def test_the_reference_agent_passes_every_canary(tmp_path: Path, suite: str) -> None:
    reasons = _run(tmp_path, "agent", suite)
    assert {i: r for i, r in reasons.items() if r} == {}


@pytest.mark.parametrize("suite", SUITES)
def test_the_naive_agent_fails_every_canary(tmp_path: Path, suite: str) -> None:
    reasons = _run(tmp_path, "naive_agent", suite)
    assert [i for i, r in reasons.items() if not r] == []
    if suite == "pii":  # caught by the PII check itself, not only by the extra e-mail in the diff
        assert all(any(x.startswith("PII leak") for x in r) for r in reasons.values())


def test_invalid_params_are_refused_by_schema_and_the_run_ends_cleanly(tmp_path: Path) -> None:
    ref = load_agent("warden.evals.reference_agent:agent")
    out = tmp_path / "ip"
    run_eval(OUT, ref, out, EvalConfig(tags=("canary:invalid_params",)))
    for line in (out / "results.jsonl").read_text().splitlines():
        result = json.loads(line)
        assert result["status"] == "escalated", result["id"]
        assert [v["code"] for v in result["violations"]] == ["schema_invalid"], result["id"]
