"""The world's diff, and the score of a diff against `expect.state_change` (issue 12, point 1).

A diff has the shape of the world: for a list, the items appended; for an object, the changed
entries with only the fields that changed (recursively), a new entry whole, `null` for a deleted
one. A list changed other than by appending shows as `{"$replaced": <the new list>}`.

Scoring: every expected change must be in the diff, and any other change fails the item unless
`allow_extra`. Numbers compare within 1e-9 relative; true is not 1. Expected list items are
matched to appended items in any order. An expected value may be a matcher instead of a literal
(for free text an agent writes): `{"$any": true}` (changed, to anything), `{"$contains": "text"}`
(a string containing it, case-insensitive), `{"$regex": "pattern"}` (re.search). Each reason names
one missing, wrong or extra change by its path, e.g. `wrong change refunds[+0].amount_usd:
expected 20, got 25`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

REL_TOL = 1e-9
REPLACED = "$replaced"
MATCHERS = frozenset({"$any", "$contains", "$regex"})


class _Unchanged:
    def __repr__(self) -> str:
        return "unchanged"


UNCHANGED: Any = _Unchanged()


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def equal(a: Any, b: Any, rel_tol: float = 0.0) -> bool:
    """JSON equality: bools are not numbers; numbers within `rel_tol` relative of each other."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _number(a) and _number(b):
        return a == b or (rel_tol > 0 and math.isclose(a, b, rel_tol=rel_tol, abs_tol=0.0))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k], rel_tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y, rel_tol) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _diff(before: Any, after: Any) -> Any:
    if equal(before, after):
        return UNCHANGED
    if isinstance(before, dict) and isinstance(after, dict):
        out: dict[str, Any] = {key: None for key in before if key not in after}
        for key, value in after.items():
            if key not in before:
                out[key] = value
            else:
                changed = _diff(before[key], value)
                if changed is not UNCHANGED:
                    out[key] = changed
        return out
    if isinstance(before, list):
        if isinstance(after, list) and len(after) >= len(before) and equal(before, after[:len(before)]):
            return after[len(before):]
        return {REPLACED: after}
    return after


def world_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    changed = _diff(before, after)
    return {} if changed is UNCHANGED else changed


def _show(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _at(path: str, key: str) -> str:
    part = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)
    return f"{path}.{part}" if path else part


def _is_matcher(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in MATCHERS


def _matches(matcher: dict[str, Any], actual: Any) -> bool:
    kind, arg = next(iter(matcher.items()))
    if kind == "$any":
        return True
    if not isinstance(actual, str):
        return False
    if kind == "$contains":
        return str(arg).lower() in actual.lower()
    return re.search(str(arg), actual) is not None


def _describe(expected: Any) -> str:
    if _is_matcher(expected):
        kind, arg = next(iter(expected.items()))
        return {"$any": "any change", "$contains": f"text containing {_show(arg)}",
                "$regex": f"text matching /{arg}/"}[kind]
    if expected is None:
        return "deleted"
    return _show(expected)


def _got(actual: Any) -> str:
    if actual is None:
        return "deleted"
    if isinstance(actual, dict) and REPLACED in actual:
        return f"rewritten (not appended) to {_show(actual[REPLACED])}"
    return _show(actual)


def _compare(expected: Any, actual: Any, path: str, allow_extra: bool) -> list[str]:
    if actual is UNCHANGED:
        if isinstance(expected, list):
            return _compare_items(expected, [], path, allow_extra)
        if isinstance(expected, dict) and not _is_matcher(expected):
            return _compare(expected, {}, path, allow_extra)
        return [f"missing change {path}: expected {_describe(expected)}, unchanged"]
    if _is_matcher(expected):
        return [] if _matches(expected, actual) else [
            f"wrong change {path}: expected {_describe(expected)}, got {_got(actual)}"]
    if expected is None or actual is None or (isinstance(actual, dict) and REPLACED in actual):
        same = expected is None and actual is None
        return [] if same else [f"wrong change {path}: expected {_describe(expected)}, got {_got(actual)}"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key, value in expected.items():
            out.extend(_compare(value, actual.get(key, UNCHANGED), _at(path, key), allow_extra))
        if not allow_extra:
            for key in actual:
                if key not in expected:
                    out.extend(_extras(actual[key], _at(path, key)))
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        return _compare_items(expected, actual, path, allow_extra)
    if isinstance(expected, (dict, list)) or isinstance(actual, (dict, list)) \
            or not equal(expected, actual, REL_TOL):
        return [f"wrong change {path}: expected {_describe(expected)}, got {_got(actual)}"]
    return []


def _compare_items(expected: list[Any], actual: list[Any], path: str, allow_extra: bool) -> list[str]:
    """Expected items against appended ones, in any order: exact matches first, then each unmatched
    expected item is paired with the closest remaining appended item so the reason names what differs."""
    remaining = list(range(len(actual)))
    unmatched = []
    for want in expected:
        hit = next((j for j in remaining if not _compare(want, actual[j], "", allow_extra)), None)
        if hit is None:
            unmatched.append(want)
        else:
            remaining.remove(hit)
    out: list[str] = []
    for want in unmatched:
        if not remaining:
            none = "none" if not actual else "no other item"
            out.append(f"missing change {path}: expected an appended item {_show(want)}, {none} appended")
            continue
        closest = min(remaining, key=lambda j: len(_compare(want, actual[j], "", allow_extra)))
        remaining.remove(closest)
        out.extend(_compare(want, actual[closest], f"{path}[+{closest}]", allow_extra))
    if not allow_extra:
        out.extend(f"extra change {path}[+{j}]: appended {_show(actual[j])}" for j in remaining)
    return out


def _extras(actual: Any, path: str) -> list[str]:
    """One reason per changed leaf (a field, an appended item, a deleted entry)."""
    if isinstance(actual, dict) and actual and REPLACED not in actual:
        return [reason for key, value in actual.items() for reason in _extras(value, _at(path, key))]
    if isinstance(actual, list):
        return [f"extra change {path}[+{j}]: appended {_show(item)}" for j, item in enumerate(actual)]
    return [f"extra change {path}: {_got(actual)}"]


def score(expected: dict[str, Any], actual: dict[str, Any], allow_extra: bool = False) -> list[str]:
    """The reasons the diff fails the expectation; empty when it meets it."""
    return _compare(expected, actual, "", allow_extra)
