"""The dataset format and its loader: bad lines are named by number, good lines around them load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warden.evals.dataset import DatasetError, Item, load, parse, write

GOOD = {"id": "refund-1", "workflow": "refund_ticket", "input": {"ticket_id": "t-1"},
        "fixture": {"tickets": {"t-1": {"status": "open"}}, "refunds": []},
        "expect": {"state_change": {"refunds": [{"order_id": "o-1", "amount_usd": 20}]}, "status": "succeeded",
                   "forbidden_tools": ["crm.delete_record"], "max_steps": 20},
        "tags": ["golden"]}


def test_a_good_item_loads_with_its_line_number() -> None:
    dataset = parse("\n" + json.dumps(GOOD) + "\n")
    assert [i.id for i in dataset.items] == ["refund-1"] and dataset.lines == {"refund-1": 2}
    item = dataset.items[0]
    assert item.expect.status == "succeeded" and item.expect.max_steps == 20 and not item.expect.allow_extra
    assert not dataset.bad


def test_bad_lines_are_named_and_good_lines_still_load() -> None:
    lines = [
        json.dumps(GOOD),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({**GOOD, "id": "x", "expect": {"status": "done"}}),
        json.dumps({**GOOD, "id": "y", "fixture": {"tickets": 3}}),
        json.dumps({**GOOD, "id": "z", "expect": {"forbidden_tools": ["delete"]}}),
        json.dumps({**GOOD, "id": "w", "expext": {}}),
        json.dumps(GOOD),
        json.dumps({**GOOD, "id": "ok-2"}),
    ]
    dataset = parse("\n".join(lines))
    assert [i.id for i in dataset.items] == ["refund-1", "ok-2"]
    reasons = {bad.line: bad.reason for bad in dataset.bad}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8]
    assert reasons[2].startswith("not JSON")
    assert "got list" in reasons[3]
    assert "invalid item 'x'" in reasons[4] and "expect.status" in reasons[4]
    assert "fixture.tickets" in reasons[5]
    assert "tool.action" in reasons[6]
    assert "expext" in reasons[7]
    assert reasons[8] == "duplicate id 'refund-1' (first on line 1)"
    assert str(dataset.bad[0]).startswith("line 2: ")


def test_write_then_load_gives_the_same_items(tmp_path: Path) -> None:
    items = [Item.model_validate(GOOD), Item.model_validate({**GOOD, "id": "refund-2", "tags": []})]
    path = tmp_path / "d" / "set.jsonl"
    write(path, items)
    again = load(path)
    assert again.items == items and not again.bad and len(again.sha256) == 64
    assert [i.id for i in again.selected(["golden"])] == ["refund-1"]
    assert len(again.selected([])) == 2


def test_an_unreadable_file_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot read"):
        load(tmp_path / "missing.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe")
    with pytest.raises(DatasetError, match="not UTF-8"):
        load(tmp_path / "bin.jsonl")
