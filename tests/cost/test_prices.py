"""Pricing by the version in force at event time; unknown models are unknown, never free."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from warden.core.errors import ConfigError
from warden.core.events import LlmCall
from warden.cost.prices import UNKNOWN, PriceTable

TABLE = """
[[versions]]
version = "v1"
effective_from = 2025-01-01T00:00:00Z
[versions.models."m"]
input = 2.0
output = 8.0
cached_input = 0.5

[[versions]]
version = "v2"
effective_from = 2025-06-01T00:00:00Z
[versions.models."m"]
input = 1.0
output = 4.0
cached_input = 0.25
"""


def call(model: str = "m", cost: float | None = None) -> LlmCall:
    return LlmCall(model=model, provider="p", input_tokens=1_000_000, output_tokens=500_000,
                   cached_tokens=200_000, latency_ms=1.0, cost_usd=cost)


@pytest.fixture
def table(tmp_path: Path) -> PriceTable:
    path = tmp_path / "prices.toml"
    path.write_text(TABLE)
    return PriceTable.load(path)


def test_the_version_in_force_at_event_time_prices_the_call(table: PriceTable) -> None:
    # 800k uncached input, 200k cached, 500k output
    early = table.price(call(), datetime(2025, 3, 1, tzinfo=UTC))
    assert (early.cost_usd, early.known, early.version) == (pytest.approx(1.6 + 0.1 + 4.0), True, "v1")
    late = table.price(call(), datetime(2025, 7, 1, tzinfo=UTC))
    assert (late.cost_usd, late.version) == (pytest.approx(0.8 + 0.05 + 2.0), "v2")


def test_a_reported_cost_wins_and_an_unknown_model_is_not_zero_priced(table: PriceTable) -> None:
    at = datetime(2025, 3, 1, tzinfo=UTC)
    assert table.price(call(cost=0.42), at).cost_usd == 0.42
    unknown = table.price(call(model="nope"), at)
    assert (unknown.known, unknown.version) == (False, UNKNOWN)
    before_any = table.price(call(), datetime(2024, 1, 1, tzinfo=UTC))
    assert before_any.known is False


def test_the_shipped_table_prices_every_demo_model() -> None:
    from warden.demo.simulator import MODELS, SPIKE_MODEL
    shipped = PriceTable.load()
    for model, _ in (*MODELS, SPIKE_MODEL):
        assert shipped.price(call(model=model), datetime(2026, 1, 1, tzinfo=UTC)).known, model


@pytest.mark.parametrize(("text", "message"), [
    ("", "at least one"),
    ('[[versions]]\nversion = "v"\n', "effective_from"),
    ('[[versions]]\nversion = "v"\neffective_from = 2025-01-01T00:00:00Z\n[versions.models.m]\ninput = 1\n',
     "needs numeric input, output and cached_input"),
    ('[[versions]]\nversion = "v"\neffective_from = 2025-01-01T00:00:00Z\n[versions.models.m]\n'
     'input = -1\noutput = 1\ncached_input = 1\n', "must be >= 0"),
    ("not toml [", "cannot be read"),
])
def test_a_bad_price_table_names_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        PriceTable.load(path)
