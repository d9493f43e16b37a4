"""The golden dataset is reproducible, checked in, and big enough (checklist: 200 items to start)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from warden.evals.dataset import load
from warden.evals.golden import DEFAULT_PATH, generate, write_golden


def test_the_checked_in_file_is_what_the_generator_writes(tmp_path: Path) -> None:
    fresh = tmp_path / "reference.jsonl"
    assert write_golden(fresh) >= 200
    assert fresh.read_bytes() == DEFAULT_PATH.read_bytes(), "regenerate: warden eval generate --out " + str(
        DEFAULT_PATH)


def test_it_covers_the_four_reference_workflows_and_loads_clean() -> None:
    dataset = load(DEFAULT_PATH)
    assert not dataset.bad and len(dataset.items) >= 200
    per_workflow = Counter(i.workflow for i in dataset.items)
    assert set(per_workflow) == {"refund_ticket", "export_report", "provision_access", "triage_ticket"}
    assert min(per_workflow.values()) >= 50
    assert generate() == dataset.items
