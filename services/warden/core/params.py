"""A tool call's params: the one strict check every component runs before policy sees them.

The policy-evaluator (and so `warden replay` and the tool proxy's decision), the tool proxy's own
input check and the eval harness all call ``check_params`` (or ``check_input``, its core): the
action's input JSON Schema from the tool inventory (policies/tools/inventory.yaml: unknown fields,
missing or null required fields and values outside an enum are errors, enums compare exactly),
then the rule policy needs of every number: Cedar's decimal holds 4 fractional digits within
±922,337,203,685,477.5807, and a number it cannot hold exactly is refused, never rounded.
Pure code (no I/O after the inventory is loaded), so replay and the eval harness may import it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from warden.core.errors import ConfigError
from warden.core.schema_check import FastCompiler, FieldError, Schema, check, compile_schema
from warden.core.shipped import POLICIES

DEFAULT_INVENTORY = POLICIES / "tools" / "inventory.yaml"

# What the ledger's redaction (warden.core.redaction.TOKENS) puts in place of a secret or PII. The
# tool proxy emits params redacted, after checking the real input against the same schema: a string
# holding a token may then fail its format, pattern or length, and only those rules are waived for it.
REDACTED = re.compile(r"\[REDACTED:[a-z_]+\]")
_WAIVED_FOR_REDACTED = frozenset({"format", "pattern", "minLength", "maxLength"})

CEDAR_SCALE = 10_000  # Cedar's decimal: a 64-bit integer of ten-thousandths
CEDAR_MIN, CEDAR_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class ToolSchemas:
    path: Path
    version: str  # hash of the inventory file
    inputs: Mapping[str, Schema] = field(repr=False)  # "tool.action" -> its compiled input schema

    def input(self, tool: str, action: str) -> Schema | None:
        return self.inputs.get(f"{tool}.{action}")


def load_tool_schemas(path: Path = DEFAULT_INVENTORY, fast: FastCompiler | None = None) -> ToolSchemas:
    """The input schemas of an inventory file; the tool proxy's loader checks the rest of it. ``fast``:
    see compile_schema (the server passes warden.policy.schema_fast.compiled)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw)
    except OSError as exc:
        raise ConfigError(f"cannot read the tool inventory {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    tools = data.get("tools") if isinstance(data, dict) else None
    if not isinstance(tools, dict) or not tools:
        raise ConfigError(f"{path}: expected a mapping with a non-empty `tools` mapping")
    inputs: dict[str, Schema] = {}
    for tool, spec in tools.items():
        actions = spec.get("actions") if isinstance(spec, dict) else None
        if not isinstance(actions, dict) or not actions:
            raise ConfigError(f"{path}: tools.{tool}.actions: a tool needs at least one action")
        for action, body in actions.items():
            where = f"{path}: tools.{tool}.actions.{action}"
            if not isinstance(body, dict) or "input" not in body:
                raise ConfigError(f"{where}: needs an `input` JSON Schema")
            inputs[f"{tool}.{action}"] = compile_schema(body["input"], f"{where}.input", fast)
    return ToolSchemas(path, hashlib.sha256(raw).hexdigest()[:16], inputs)


@cache
def default_tool_schemas() -> ToolSchemas:
    return load_tool_schemas(DEFAULT_INVENTORY)


def cedar_decimal(value: int | float | Decimal) -> str | None:
    """The Cedar decimal literal exactly equal to ``value``, or None when Cedar's decimal cannot hold it.

    A float counts as the shortest decimal that reads back as it (what a JSON writer printed)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        # Magnitude first: Fraction of 1E+999999999 would compute a billion-digit integer.
        if value and not -5 < value.adjusted() < 16:
            return None
    scaled = Fraction(value) * CEDAR_SCALE
    if scaled.denominator != 1 or not CEDAR_MIN <= scaled.numerator <= CEDAR_MAX:
        return None
    whole, part = divmod(abs(scaled.numerator), CEDAR_SCALE)
    return f"{'-' if scaled.numerator < 0 else ''}{whole}.{part:04d}"


def _path(root: str, parts: list[str | int]) -> str:
    return root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def number_errors(params: Any, root: str = "params") -> list[FieldError]:
    """Every number policy would see that Cedar's decimal cannot hold exactly."""
    found: list[FieldError] = []
    stack: list[tuple[Any, list[str | int]]] = [(params, [])]
    while stack:
        value, parts = stack.pop()
        if isinstance(value, dict):
            stack.extend((v, [*parts, str(k)]) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, [*parts, i]) for i, v in enumerate(value))
        elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) \
                and cedar_decimal(value) is None:
            found.append(FieldError(_path(root, parts), "cedar_decimal",
                                    f"{value!s:.40} is not exactly a Cedar decimal (at most 4 decimal places, "
                                    "within ±922337203685477.5807); refused, never rounded"))
    return sorted(found, key=lambda e: e.field)


def _floats(value: Any) -> Any:
    """What a JSON reader with floats sees: the schema check is then the same in the proxy and the stream."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return value


def _redacted(error: jsonschema.ValidationError) -> bool:
    return str(error.validator) in _WAIVED_FOR_REDACTED and isinstance(error.instance, str) \
        and REDACTED.search(error.instance) is not None


def check_input(validator: Schema, params: Any, root: str = "params") -> list[FieldError]:
    """The action's schema, then Cedar's numbers; empty when policy may see the params. Fails closed:
    a schema check that raises is an error of the call, not of the caller."""
    try:
        errors = check(validator, _floats(params), root, ignore=_redacted)
    except Exception as exc:  # a validator library error on hostile values: deny, never crash
        return [FieldError(root, "schema", f"checking the schema raised {type(exc).__name__}: {str(exc)[:120]}")]
    return errors + number_errors(params, root)


def check_params(tool: str, action: str, params: Any, schemas: ToolSchemas | None = None,
                 root: str = "params") -> list[FieldError]:
    """Field errors of a call's params against its action's input schema (default: the reference
    inventory); an action the inventory does not define is an error too (no schema, no call)."""
    schemas = schemas or default_tool_schemas()
    validator = schemas.input(tool, action)
    if validator is None:
        return [FieldError(root, "inventory", f"{tool}.{action} is not in the tool inventory "
                                              f"{schemas.path.name}: there is no schema to check its params")]
    return check_input(validator, params, root)
