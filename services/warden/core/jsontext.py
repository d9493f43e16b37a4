"""JSON text from outside Warden, read strictly: one parser for params, outputs and replay lines.

The standard library's parser takes the last of two equal keys (so two readers of one text can
disagree on what it says), accepts NaN and Infinity, and recurses once per nesting level (10,000
levels raise RecursionError, which no service treated as a bad record). ``loads`` refuses all of
these with a ValueError naming the limit, so pydantic validators and replay report them as the
record's fault. Hand-written on purpose: no maintained parser offers depth and duplicate checks
together, and the walk after parsing is twenty lines.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from warden.core.limits import InputLimits, limits

# NUL and UTF-16 surrogates (a lone surrogate cannot be written as UTF-8: the record would fail
# later, in the ledger or in another reader, instead of here).
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_INF = float("inf")
_FLOAT_RANGE = 2**1024  # the first integer a float cannot hold: float() of it raises OverflowError


class NotJson(ValueError):
    """The text does not parse as JSON."""


class JsonRefused(ValueError):
    """The text is JSON but breaks a limit or a rule (size, depth, duplicate key, NaN, NUL, surrogate)."""


def text_problem(value: str) -> str | None:
    """Why a string is refused (NUL or a lone surrogate), or None."""
    # Fast paths in C (the regex scans a character at a time: 3 µs on a typical params text):
    # isascii() is a flag lookup, `in` a memchr, and only a surrogate makes encode() fail.
    if "\x00" not in value:
        if value.isascii():
            return None
        try:
            value.encode("utf-8")
            return None
        except UnicodeEncodeError:
            pass
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    char = found.group()
    what = "a NUL character (U+0000)" if char == "\x00" else f"a lone surrogate (U+{ord(char):04X})"
    return f"contains {what} at position {found.start()}, which Warden refuses in text"


def check_text(value: str, field: str) -> None:
    problem = text_problem(value)
    if problem is not None:
        raise JsonRefused(f"{field} {problem}")


def _no_constant(name: str) -> Any:
    raise JsonRefused(f"has {name}, which is not a JSON number")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        keys = [k for k, _ in pairs]
        twice = next(k for i, k in enumerate(keys) if k in keys[:i])
        raise JsonRefused(f"has the key {twice!r:.80} twice in one object (refused: readers would disagree on "
                         "its value)")
    return found


# Built once: json.loads with arguments builds a decoder per call (4 µs of a 6 µs parse).
_STRICT = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_no_constant)
_EXACT = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_no_constant, parse_float=Decimal)
_PLAIN_EXACT = json.JSONDecoder(parse_float=Decimal)


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def loads(text: str, field: str, size_limit: str, *, exact: bool = False) -> Any:
    """Parse ``text``; NotJson if it does not parse, JsonRefused naming the limit or rule it breaks.

    ``size_limit``: the InputLimits field that bounds this text (params_bytes, output_bytes, record_bytes).
    ``exact``: numbers with a fraction or exponent become Decimal, as written (amounts for policy)."""
    bounds = limits()
    max_bytes: int = getattr(bounds, size_limit)
    if len(text) > max_bytes or (4 * len(text) > max_bytes and _size(text) > max_bytes):
        raise JsonRefused(f"{field} is {_size(text)} bytes, over the limit of {max_bytes} bytes "
                         f"({InputLimits.env(size_limit)})")
    check_text(text, field)
    try:
        value = (_EXACT if exact else _STRICT).decode(text)
    except RecursionError:
        raise JsonRefused(f"{field} nests deeper than the limit of {bounds.json_depth} levels "
                         f"({InputLimits.env('json_depth')})") from None
    except JsonRefused as exc:
        raise JsonRefused(f"{field} {exc}") from None
    except ValueError as exc:  # JSONDecodeError, ints over Python's 4,300 digits
        raise NotJson(f"{field} is not JSON: {exc}") from None
    _walk(value, field, bounds.json_depth)
    return value


def _walk(value: Any, field: str, max_depth: int) -> None:
    """Depth, strings and keys of a parsed value, without recursion (the value may be deep)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if text_problem(item) is not None:
                check_text(item, f"{field} has a string that")
        elif isinstance(item, float) and (item != item or item in (_INF, -_INF)):
            raise JsonRefused(f"{field} has a number out of range ({item}); numbers must be finite")
        elif isinstance(item, int) and not -_FLOAT_RANGE < item < _FLOAT_RANGE:
            raise JsonRefused(f"{field} has an integer of {len(str(abs(item)))} digits, outside the range of a "
                             "64-bit float (readers compute with floats)")
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                raise JsonRefused(f"{field} nests deeper than the limit of {max_depth} levels "
                                 f"({InputLimits.env('json_depth')})")
            if isinstance(item, dict):
                for key, sub in item.items():
                    if text_problem(key) is not None:
                        check_text(key, f"{field} has a key that")
                    stack.append((sub, depth + 1))
            else:
                stack.extend((sub, depth + 1) for sub in item)


def exact(text: str) -> Any:
    """Already-validated JSON text with numbers as written (Decimal), for what policy compares."""
    return _PLAIN_EXACT.decode(text)
