"""Features are checked where the agent passes them: one type per known feature, labels are scalars."""

from __future__ import annotations

import pytest

from warden.core.errors import ValidationError
from warden.routing.features import check_features


@pytest.mark.parametrize(("features", "message"), [
    ({"amount_usd": "42"}, "amount_usd: expected a number, got '42'"),
    ({"tool": 3}, "tool: expected a string, got 3"),
    ({"risk_score": 1.5}, "risk_score: expected 0..1, got 1.5"),
    ({"input_tokens": -1}, "input_tokens: expected an int >= 0"),
    ({"input_tokens": 1.5}, "input_tokens: expected an int >= 0"),
    ({"amount_usd": float("nan")}, "expected a finite number"),
    ({"amount_usd": True}, "amount_usd: expected a number, got True"),
    ({"label": [1]}, "expected a string, number or bool, got list"),
    ({"label": "x" * 300}, "at most 256 characters"),
    ({"bad-name": 1}, "invalid routing feature name 'bad-name'"),
    ({f"f{i}": 1 for i in range(33)}, "33 given, at most 32"),
])
def test_bad_features_are_refused_naming_the_feature(features: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        check_features(features)  # type: ignore[arg-type]


def test_good_features_pass_through() -> None:
    features = {"amount_usd": 42, "risk_score": 0.2, "input_tokens": 900, "tool": "payments.refund", "vip": True,
                "region": "eu"}
    assert check_features(features) is features  # type: ignore[arg-type]
