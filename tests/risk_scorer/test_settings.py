"""The review share is a validated setting: 5-10% of each workflow's calls, 7.5% by default."""

from __future__ import annotations

import pytest

from warden.core.errors import ConfigError
from warden.risk_scorer.settings import RiskScorerSettings, load_settings


def test_the_default_share_is_7_5_percent_and_the_bounds_are_allowed() -> None:
    assert RiskScorerSettings().risk_review_share == 0.075
    for share in (0.05, 0.10):
        assert RiskScorerSettings(risk_review_share=share).risk_config().share == share


@pytest.mark.parametrize("share", ["0.2", "0.01", "0"])
def test_a_share_outside_5_to_10_percent_is_refused_with_the_value(share: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_RISK_REVIEW_SHARE", share)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "between 0.05 and 0.1" in str(err.value) and f"got {float(share)}" in str(err.value)


def test_a_missing_weights_file_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_RISK_WEIGHTS", "/nonexistent/risk.toml")
    with pytest.raises(ConfigError, match=r"/nonexistent/risk\.toml"):
        load_settings().risk_config()
