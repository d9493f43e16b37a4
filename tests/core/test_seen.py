"""SeenIds: each id counted once within its capacity, oldest forgotten first, JSON round trip."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from pydantic import TypeAdapter

from warden.core.errors import ConfigError, StateError
from warden.core.seen import DEFAULT_CAPACITY, SeenIds


def test_an_id_is_new_once() -> None:
    seen = SeenIds(10)
    assert seen.first_time("a") and seen.first_time("b")
    assert not seen.first_time("a")
    assert "a" in seen and "c" not in seen and len(seen) == 2


def test_the_oldest_ids_are_forgotten_past_capacity() -> None:
    seen = SeenIds(2)
    for ident in "abc":
        seen.first_time(ident)
    assert list(seen) == ["b", "c"]
    assert seen.first_time("a"), "a was forgotten, so it counts again"
    assert list(seen) == ["c", "a"]


def test_json_round_trip_keeps_order_and_capacity() -> None:
    seen = SeenIds(3, ["x", "y", "z", "w"])
    back = SeenIds.from_json(json.loads(json.dumps(seen.to_json())))
    assert back == seen and back.capacity == 3 and list(back) == ["y", "z", "w"]


def test_older_forms_load() -> None:
    assert list(SeenIds.from_json(["a", "b"], capacity=5)) == ["a", "b"]
    assert SeenIds.from_json(None).capacity == DEFAULT_CAPACITY
    assert SeenIds.from_json(None, capacity=7).capacity == 7


def test_configured_capacity_wins_and_keeps_the_newest() -> None:
    back = SeenIds.from_json(SeenIds(10, "abcde").to_json(), capacity=2)
    assert back.capacity == 2 and list(back) == ["d", "e"]


@pytest.mark.parametrize("bad", [{"ids": "abc"}, 42, {"capacity": 3}, ["a", 1]])
def test_a_damaged_snapshot_is_a_state_error(bad: object) -> None:
    with pytest.raises(StateError):
        SeenIds.from_json(bad)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="at least 1, got 0"):
        SeenIds(0)


@dataclass
class Holder:
    seen: SeenIds = field(default_factory=lambda: SeenIds(4))


def test_a_pydantic_serialised_state_holds_its_json_form() -> None:
    adapter = TypeAdapter(Holder)
    holder = Holder(SeenIds(4, ["a", "b"]))
    dumped = adapter.dump_python(holder, mode="json")
    assert dumped == {"seen": {"capacity": 4, "ids": ["a", "b"]}}
    assert adapter.validate_python(json.loads(json.dumps(dumped))).seen == holder.seen
    assert adapter.validate_python({}).seen == SeenIds(4), "a state saved before the field existed loads"
