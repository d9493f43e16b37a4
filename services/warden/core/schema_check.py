"""JSON Schema validation of tool inputs and outputs, with errors that name the field and the rule.

Shared by the tool proxy and the strict params check every component runs (warden.core.params).
"""

from __future__ import annotations

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


def compile_schema(schema: Any, where: str) -> Draft202012Validator:
    """Compile once at load; a schema that is not valid JSON Schema is a configuration error."""
    if not isinstance(schema, dict):
        raise ConfigError(f"{where}: a JSON Schema must be an object, got {type(schema).__name__}")
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        at = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ConfigError(f"{where}: not a valid JSON Schema at {at}: {exc.message}") from exc
    return Draft202012Validator(schema, format_checker=_FORMATS)


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


def check(validator: Draft202012Validator, value: Any, root: str,
          ignore: Callable[[jsonschema.ValidationError], bool] | None = None) -> list[FieldError]:
    """Every broken rule, fields in document order; empty when the value is valid (the fast path).
    ``ignore``: errors not to report (the params check's redacted strings)."""
    if validator.is_valid(value):
        return []
    found = [e for e in validator.iter_errors(value) if ignore is None or not ignore(e)]
    errors = sorted(found, key=lambda e: [str(p) for p in e.absolute_path])
    described = [_describe(e, root) for e in errors]
    # An e-mail field fails both its pattern and its format: one error per field and rule.
    return list({(d.field, d.rule): d for d in described}.values())
