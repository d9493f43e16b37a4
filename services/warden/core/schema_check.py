"""JSON Schema validation of tool inputs and outputs, with errors that name the field and the rule.

Shared by the tool proxy and the strict params check every component runs (warden.core.params).
jsonschema (Python) is the reference: it decides every value it sees and names the errors. In front
of it, where a schema uses only keywords both read the same way (``fast_eligible``), a compiled
validator may answer "valid" (the server's warden.policy.schema_fast: jsonschema-rs, well under a
microsecond instead of 10-30 µs per check, three checks per tool call in the proxy); whatever it
does not call valid (or cannot take) goes to the reference, so a refusal, and its errors, are
jsonschema's alone. The light SDK (this package) compiles the reference only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker

from warden.core.errors import ConfigError

_FORMATS = FormatChecker()


@dataclass(frozen=True)
class FieldError:
    field: str  # e.g. input.amount_usd, input.items[2].sku
    rule: str  # the JSON Schema keyword that failed: minimum, type, required, additionalProperties, ...
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} (rule: {self.rule})"


# A compiler of the fast validator for a schema ``fast_eligible`` passed: an object with is_valid(value), or None.
FastCompiler = Callable[[dict[str, Any]], Any]

# Keywords whose meaning jsonschema-rs shares with jsonschema, so that its "valid" may stand: where the two
# differ on these (format "email", a pattern's `$` before a final newline, `.` on U+2028) jsonschema-rs is
# the stricter one, and the reference then decides. Annotations change nothing. Not here: $schema and $id
# (another draft, another base for $ref), and every keyword not listed.
_FAST_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "minLength", "maxLength", "enum", "const",
    "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "minItems", "maxItems",
    "minProperties", "maxProperties", "$ref", "$defs", "format",
    "$comment", "title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly",
})
_SUBSCHEMA_MAPS = frozenset({"properties", "$defs"})
_SUBSCHEMAS = frozenset({"additionalProperties", "items"})
_FAST_FORMATS = frozenset({"email"})  # jsonschema's check is `"@" in value`; jsonschema-rs's is stricter
# A pattern's escapes that both engines read alike: an escaped punctuation mark. The class escapes (\d, \s,
# \w, \b and their negations) are ASCII in jsonschema-rs's ECMA-262 reading and Unicode in Python's re, so
# one or the other is laxer depending on the pattern: such a pattern stays with the reference alone.
_SAFE_ESCAPE = re.compile(r"\\[^A-Za-z0-9]")


def fast_eligible(schema: Any) -> bool:
    """Whether jsonschema-rs's "valid" may stand for this schema: only the keywords above, local $refs,
    format email, patterns without the escapes whose classes differ."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict) or not set(schema) <= _FAST_KEYWORDS:
        return False
    for key, value in schema.items():
        if key in _SUBSCHEMA_MAPS and not (isinstance(value, dict) and all(map(fast_eligible, value.values()))):
            return False
        if key in _SUBSCHEMAS and not fast_eligible(value):
            return False
        if key == "$ref" and not (isinstance(value, str) and value.startswith("#/$defs/")):
            return False
        if key == "format" and value not in _FAST_FORMATS:
            return False
        if key == "pattern" and not (isinstance(value, str) and "\\" not in _SAFE_ESCAPE.sub("", value)):
            return False
    return True


@dataclass(frozen=True, eq=False)
class Schema:
    """A compiled schema: the reference validator, and jsonschema-rs's in front where ``fast_eligible``."""

    full: Draft202012Validator
    fast: Any = None  # what a FastCompiler made (a jsonschema_rs validator)

    def is_valid(self, value: Any) -> bool:
        if self.fast is not None:
            try:
                if self.fast.is_valid(value):
                    return True
            except Exception:  # a value it cannot take (a lone surrogate, a non-string key): the reference decides
                pass
        return bool(self.full.is_valid(value))


def compile_schema(schema: Any, where: str, fast: FastCompiler | None = None) -> Schema:
    """Compile once at load; a schema that is not valid JSON Schema is a configuration error. ``fast``:
    the compiler of a validator that may answer "valid" first, for a schema ``fast_eligible`` passes."""
    if not isinstance(schema, dict):
        raise ConfigError(f"{where}: a JSON Schema must be an object, got {type(schema).__name__}")
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        at = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ConfigError(f"{where}: not a valid JSON Schema at {at}: {exc.message}") from exc
    compiled = None
    if fast is not None and fast_eligible(schema):
        try:
            compiled = fast(schema)
        except Exception:  # it cannot read this schema (a regex it does not support): the reference alone
            compiled = None
    return Schema(Draft202012Validator(schema, format_checker=_FORMATS), compiled)


def _path(root: str, parts: Any) -> str:
    text = root
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _describe(error: jsonschema.ValidationError, root: str) -> FieldError:
    rule = str(error.validator)
    field = _path(root, error.absolute_path)
    value = error.instance
    if rule == "required":
        missing = error.message.split("'")[1] if error.message.count("'") >= 2 else error.message
        return FieldError(f"{field}.{missing}", rule, "is required")
    if rule == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        return FieldError(f"{field}.{unknown[0]}" if len(unknown) == 1 else field, rule,
                          f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                          f"(allowed: {', '.join(allowed) or 'none'})")
    email = (rule == "pattern" and error.schema.get("format") == "email") or (
        rule == "format" and error.validator_value == "email")
    if email:
        return FieldError(field, "email", f"{value!r:.80} is not a well-formed e-mail address")
    if rule in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        words = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "greater than",
                 "exclusiveMaximum": "less than"}[rule]
        return FieldError(field, rule, f"must be {words} {error.validator_value}, got {value!r}")
    if rule == "type":
        return FieldError(field, rule, f"must be of type {error.validator_value}, got {type(value).__name__} "
                                       f"{value!r:.60}")
    return FieldError(field, rule, error.message[:300])


def check(validator: Schema, value: Any, root: str,
          ignore: Callable[[jsonschema.ValidationError], bool] | None = None) -> list[FieldError]:
    """Every broken rule, fields in document order; empty when the value is valid (the fast path).
    ``ignore``: errors not to report (the params check's redacted strings)."""
    if validator.is_valid(value):
        return []
    found = [e for e in validator.full.iter_errors(value) if ignore is None or not ignore(e)]
    errors = sorted(found, key=lambda e: [str(p) for p in e.absolute_path])
    described = [_describe(e, root) for e in errors]
    # An e-mail field fails both its pattern and its format: one error per field and rule.
    return list({(d.field, d.rule): d for d in described}.values())
