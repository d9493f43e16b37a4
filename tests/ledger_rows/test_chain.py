"""Canonical values hash the same before insert and after a round trip through ClickHouse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from warden.ledger_rows.chain import GENESIS, canonical, link


def test_naive_utc_and_aware_datetimes_are_one_value() -> None:
    aware = datetime(2026, 11, 24, 9, 30, 1, 123000, tzinfo=UTC)
    assert canonical([aware]) == canonical([aware.replace(tzinfo=None)]) == '["2026-11-24T09:30:01.123Z"]'


def test_maps_are_order_independent() -> None:
    assert canonical([{"b": 1.0, "a": 2.0}]) == canonical([{"a": 2.0, "b": 1.0}])


def test_any_change_changes_the_link() -> None:
    base = link(GENESIS, ["acme", 1, None])
    assert base != link(GENESIS, ["acme", 2, None])
    assert base != link(GENESIS, ["acme", 1, ""])
    assert base != link("1" * 64, ["acme", 1, None])
    assert base == link(GENESIS, ("acme", 1, None))


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot encode"):
        canonical([object()])
