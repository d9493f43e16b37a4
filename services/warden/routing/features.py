"""The task features a routing decision is made on, checked where the agent passes them.

Known features have one type each, so a rule on `amount_usd` compares numbers with numbers; any
other name is a label the agent passes (a string, number or bool). A decision records its features,
so `warden replay` can decide again on exactly what the agent saw.
"""

from __future__ import annotations

import re

from warden.core.errors import ValidationError

Value = str | int | float | bool
Features = dict[str, Value]

TEXT = frozenset({"workflow", "tenant", "tenant_tier", "tool", "intent"})
NUMBERS = frozenset({"amount_usd", "risk_score", "input_tokens"})
KNOWN = TEXT | NUMBERS
MAX_FEATURES = 32
MAX_TEXT = 256
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


# Names known good: the known features, and label names whose spelling was checked once (run.route pays
# for this check on every call, so one set lookup per feature is all a good name costs).
_GOOD_NAMES: set[str] = set(KNOWN)
_MAX_GOOD_NAMES = 10_000 + len(KNOWN)
# A known feature whose number needs more than a finiteness test, or that must be text.
_RANGED = frozenset({"risk_score", "input_tokens"})


def check_features(features: Features) -> Features:
    """Raises ValidationError naming the feature, the value found and what was expected.

    Written with `type(...) is` tests and one set lookup per value on the good path, the refusals in
    `_refuse`: run.route pays for the good path on every call (a bool is an int to isinstance; a str or
    float subclass goes the slow way and is refused if it is neither).
    """
    if len(features) > MAX_FEATURES:
        raise ValidationError(f"invalid routing features: {len(features)} given, at most {MAX_FEATURES}")
    for name, value in features.items():
        kind = type(value)
        if kind is str:
            if len(value) > MAX_TEXT or name in NUMBERS or "\x00" in value:  # type: ignore[arg-type, operator]
                _refuse(name, value)
        elif kind is float:
            if value - value != 0.0 or name in TEXT:  # type: ignore[operator]  # NaN, infinity
                _refuse(name, value)
            if name in _RANGED and (name != "risk_score" or not 0.0 <= value <= 1.0):  # type: ignore[operator]
                _refuse(name, value)
        elif kind is int:
            if name in TEXT:
                _refuse(name, value)
            if name in _RANGED and not (value >= 0 if name == "input_tokens" else 0 <= value <= 1):  # type: ignore[operator]
                _refuse(name, value)
        elif kind is not bool or name in KNOWN:
            _refuse(name, value)
        if name not in _GOOD_NAMES:
            if not NAME.match(name):
                raise ValidationError(f"invalid routing feature name {name!r}: expected letters, digits and _")
            if len(_GOOD_NAMES) < _MAX_GOOD_NAMES:
                _GOOD_NAMES.add(name)
    return features


def _refuse(name: str, value: object) -> None:
    """Raises for a value the good path did not pass, naming the feature and what was expected."""
    kind = type(value)
    if kind is str:
        if name in NUMBERS:
            raise ValidationError(f"invalid routing feature {name}: expected a number, got {value!r:.60}")
        raise ValidationError(f"invalid routing feature {name}: expected text of at most {MAX_TEXT} "
                              f"characters without NUL, got {len(value)} characters")  # type: ignore[arg-type]
    if kind is float or kind is int:
        if name in TEXT:
            raise ValidationError(f"invalid routing feature {name}: expected a string, got {value!r}")
        if kind is float and value - value != 0.0:  # type: ignore[operator]
            raise ValidationError(f"invalid routing feature {name}: expected a finite number, got {value!r}")
        _number(name, value)  # type: ignore[arg-type]
        return
    if kind is bool:
        raise ValidationError(f"invalid routing feature {name}: expected a "
                              f"{'number' if name in NUMBERS else 'string'}, got {value!r}")
    raise ValidationError(f"invalid routing feature {name}: expected a string, number or bool, "
                          f"got {kind.__name__}")


def _number(name: str, value: Value) -> None:
    if name == "risk_score" and not 0 <= value <= 1:  # type: ignore[operator]
        raise ValidationError(f"invalid routing feature risk_score: expected 0..1, got {value!r}")
    if name == "input_tokens" and (type(value) is not int or value < 0):
        raise ValidationError(f"invalid routing feature input_tokens: expected an int >= 0, got {value!r}")
