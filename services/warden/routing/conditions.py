"""One rule's `when.<feature> = ...` conditions, parsed once into checks a decision runs in a loop.

A condition is a value (equal), a list (any of), or for numbers a table of bounds {lt, le, gt, ge}.
A condition on a feature the agent did not pass is not met (a rule on risk_score never matches a task
with no score), so a rule matches on what it names and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from warden.routing.features import NAME, NUMBERS, TEXT, Features

Check = Callable[[Features], bool]
BOUNDS = ("lt", "le", "gt", "ge")


class ConditionError(ValueError):
    """What is wrong with one condition; the loader adds the file and the line."""


@dataclass(frozen=True)
class Condition:
    feature: str
    spec: Any  # as written, for `warden cost routes` and error messages
    check: Check


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(feature: str, value: Any) -> Check:
    kind = type(value)
    if kind is float or kind is int:  # 1 == 1.0 for numbers, but never True == 1
        return lambda f: type(got := f.get(feature)) is not bool and got == value
    return lambda f: type(f.get(feature)) is kind and f.get(feature) == value


def _any_of(feature: str, values: list[Any]) -> Check:
    choices = frozenset(values)
    kind = type(values[0])
    if kind is float or kind is int:
        return lambda f: type(got := f.get(feature)) is not bool and got in choices
    return lambda f: type(got := f.get(feature)) is kind and got in choices


_NUMBERS = (int, float)


def _range(feature: str, bounds: dict[str, float]) -> Check:
    """One bound (the usual rule) gets a closure of its own: run.route runs these on every call."""
    if len(bounds) == 1:
        ((op, x),) = bounds.items()
        if op == "lt":
            return lambda f: type(got := f.get(feature)) in _NUMBERS and got < x  # type: ignore[operator]
        if op == "le":
            return lambda f: type(got := f.get(feature)) in _NUMBERS and got <= x  # type: ignore[operator]
        if op == "gt":
            return lambda f: type(got := f.get(feature)) in _NUMBERS and got > x  # type: ignore[operator]
        return lambda f: type(got := f.get(feature)) in _NUMBERS and got >= x  # type: ignore[operator]
    lt, le, gt, ge = (bounds.get(b) for b in BOUNDS)

    def check(f: Features) -> bool:
        got = f.get(feature)
        if got is None or type(got) is bool or type(got) is str:
            return False
        return ((lt is None or got < lt) and (le is None or got <= le)  # type: ignore[operator]
                and (gt is None or got > gt) and (ge is None or got >= ge))  # type: ignore[operator]
    return check


def _always(f: Features) -> bool:
    return True


def all_of(checks: list[Check]) -> Check:
    """A rule's conditions as one check, so the matcher makes one call per rule it tries (not a loop per rule)."""
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda f: first(f) and second(f)
    head, rest = checks[0], all_of(checks[1:])
    return lambda f: head(f) and rest(f)


def parse(feature: str, spec: Any) -> Condition:
    """Raises ConditionError saying what was expected for this feature and what was found."""
    if not NAME.match(feature):
        raise ConditionError(f"feature name {feature!r}: expected letters, digits and _")
    number = feature in NUMBERS
    text = feature in TEXT
    expected = ("a number, a list of numbers or a table of bounds {lt, le, gt, ge}" if number else
                "a string or a list of strings" if text else "a string, number or bool, a list of them, "
                "or a table of bounds {lt, le, gt, ge}")
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(BOUNDS))
        if text or not spec or unknown:
            raise ConditionError(f"when.{feature}: expected {expected}, got the table {spec!r}"
                                 + (f" (unknown bounds {unknown})" if unknown and not text else ""))
        bad = {k: v for k, v in spec.items() if not _number(v)}
        if bad:
            raise ConditionError(f"when.{feature}: bounds must be numbers, got {bad!r}")
        return Condition(feature, spec, _range(feature, {k: float(v) for k, v in spec.items()}))
    values = spec if isinstance(spec, list) else [spec]
    if not values:
        raise ConditionError(f"when.{feature}: expected {expected}, got an empty list")
    kinds = {bool if isinstance(v, bool) else float if _number(v) else type(v) for v in values}
    allowed = {float} if number else {str} if text else {str, float, bool}
    if len(kinds) != 1 or not kinds <= allowed:
        raise ConditionError(f"when.{feature}: expected {expected}, got {spec!r}")
    check = _any_of(feature, values) if isinstance(spec, list) else _equal(feature, spec)
    return Condition(feature, spec, check)
