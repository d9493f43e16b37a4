"""The tool inventory as code: one YAML file per deployment (policies/tools/inventory.yaml by default).

It is loaded and compiled once at start: a schema that does not compile, a tool without an
upstream or an unknown key is refused with the file and the place named, so a proxy never
runs on half an inventory. `check_inventory` adds what needs the policy bundle too (every
workflow's tools exist, the v1 cap of 15 tools per workflow, read-only flags that agree).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from warden.core.errors import ConfigError
from warden.core.params import DEFAULT_INVENTORY, ToolSchemas
from warden.core.schema_check import Schema, compile_schema
from warden.policy import schema_fast
from warden.policy.bundle import Bundle

V1_TOOL_CAP = 15
_TOOL_KEYS = {"description", "upstream_url", "secret", "read_only", "timeout_s", "rate_limits", "actions"}
_ACTION_KEYS = {"description", "read_only", "path", "input", "output"}
_SCOPES = ("per_tenant", "per_tool", "per_run")


class InventoryError(ConfigError):
    """The inventory file does not parse or does not describe tools the proxy can enforce."""


@dataclass(frozen=True)
class Limit:
    rate_per_s: float
    burst: float


@dataclass(frozen=True)
class RateLimits:
    per_tenant: Limit | None = None
    per_tool: Limit | None = None
    per_run: Limit | None = None


@dataclass(frozen=True)
class ActionSpec:
    tool: str
    name: str
    read_only: bool
    path: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    input_validator: Schema = field(repr=False, compare=False)
    output_validator: Schema = field(repr=False, compare=False)

    @property
    def qualified(self) -> str:
        return f"{self.tool}.{self.name}"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    upstream_url: str
    secret: str | None
    timeout_s: float
    rate_limits: RateLimits
    actions: dict[str, ActionSpec]


@dataclass(frozen=True)
class Inventory:
    path: Path
    version: str  # hash of the file: what the proxy enforces is identifiable
    tools: dict[str, ToolSpec]

    def action(self, tool: str, action: str) -> ActionSpec | None:
        spec = self.tools.get(tool)
        return spec.actions.get(action) if spec is not None else None

    @property
    def qualified_actions(self) -> frozenset[str]:
        return frozenset(a.qualified for t in self.tools.values() for a in t.actions.values())

    @property
    def read_only_actions(self) -> frozenset[str]:
        return frozenset(a.qualified for t in self.tools.values() for a in t.actions.values() if a.read_only)

    @property
    def schemas(self) -> ToolSchemas:
        """The input schemas in the form the shared params check (warden.core.params) takes."""
        return ToolSchemas(self.path, self.version, {a.qualified: a.input_validator
                                                     for t in self.tools.values() for a in t.actions.values()})

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(t.secret for t in self.tools.values() if t.secret)


def _limit(value: Any, where: str) -> Limit | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"rate_per_s", "burst"}:
        raise InventoryError(f"{where}: expected {{rate_per_s: <number>, burst: <number>}}, got {value!r}")
    rate, burst = value["rate_per_s"], value["burst"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in (rate, burst)):
        raise InventoryError(f"{where}: rate_per_s and burst must be positive numbers, got {value!r}")
    if burst < 1:
        raise InventoryError(f"{where}: burst must be at least 1 (one call), got {burst}")
    return Limit(float(rate), float(burst))


def _limits(value: Any, where: str, base: RateLimits) -> RateLimits:
    if value is None:
        return base
    if not isinstance(value, dict) or set(value) - set(_SCOPES):
        raise InventoryError(f"{where}: rate_limits takes {', '.join(_SCOPES)}, got {value!r}")
    return RateLimits(**{scope: _limit(value[scope], f"{where}.{scope}") if scope in value
                         else getattr(base, scope) for scope in _SCOPES})


def _unknown(keys: Any, allowed: set[str], where: str) -> None:
    extra = sorted(set(keys) - allowed)
    if extra:
        raise InventoryError(f"{where}: unknown key{'s' if len(extra) > 1 else ''} {', '.join(extra)} "
                             f"(allowed: {', '.join(sorted(allowed))})")


def _action(tool: str, name: str, spec: Any, tool_read_only: bool, where: str) -> ActionSpec:
    if not isinstance(spec, dict):
        raise InventoryError(f"{where}: an action is a mapping with input and output schemas")
    _unknown(spec, _ACTION_KEYS, where)
    for part in ("input", "output"):
        if part not in spec:
            raise InventoryError(f"{where}: needs an `{part}` JSON Schema")
    path = spec.get("path", f"/{name}")
    if not isinstance(path, str) or not path.startswith("/"):
        raise InventoryError(f"{where}.path: must start with '/', got {path!r}")
    read_only = spec.get("read_only", tool_read_only)
    if not isinstance(read_only, bool):
        raise InventoryError(f"{where}.read_only: must be true or false, got {read_only!r}")
    try:
        validators = [compile_schema(spec[part], f"{where}.{part}", schema_fast.compiled)
                      for part in ("input", "output")]
    except ConfigError as exc:
        raise InventoryError(str(exc)) from exc
    return ActionSpec(tool, name, read_only, path, spec["input"], spec["output"], *validators)


def _tool(name: str, spec: Any, defaults: dict[str, Any], base: RateLimits, where: str) -> ToolSpec:
    if not isinstance(spec, dict):
        raise InventoryError(f"{where}: a tool is a mapping (upstream_url, secret, actions, ...)")
    _unknown(spec, _TOOL_KEYS, where)
    url = spec.get("upstream_url")
    parsed = urlparse(url) if isinstance(url, str) else None
    if not isinstance(url, str) or parsed is None or parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise InventoryError(f"{where}.upstream_url: expected an http(s):// URL, got {url!r}")
    secret = spec.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise InventoryError(f"{where}.secret: the name of the upstream secret, got {secret!r}")
    read_only = spec.get("read_only", False)
    if not isinstance(read_only, bool):
        raise InventoryError(f"{where}.read_only: must be true or false, got {read_only!r}")
    timeout = spec.get("timeout_s", defaults.get("timeout_s", 10))
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise InventoryError(f"{where}.timeout_s: must be a positive number, got {timeout!r}")
    actions = spec.get("actions")
    if not isinstance(actions, dict) or not actions:
        raise InventoryError(f"{where}.actions: a tool needs at least one action")
    for action in actions:
        if "." in str(action):
            raise InventoryError(f"{where}.actions: action names cannot contain '.', got {action!r}")
    return ToolSpec(name, str(spec.get("description", "")), url.rstrip("/"), secret, float(timeout),
                    _limits(spec.get("rate_limits"), f"{where}.rate_limits", base),
                    {str(a): _action(name, str(a), s, read_only, f"{where}.actions.{a}") for a, s in actions.items()})


def load_inventory(path: Path = DEFAULT_INVENTORY) -> Inventory:
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw)
    except OSError as exc:
        raise InventoryError(f"cannot read the tool inventory {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise InventoryError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("tools"), dict) or not data["tools"]:
        raise InventoryError(f"{path}: expected a mapping with a non-empty `tools` mapping")
    _unknown(data, {"defaults", "tools"}, str(path))
    defaults = data.get("defaults") or {}
    _unknown(defaults, {"timeout_s", "rate_limits"}, f"{path}: defaults")
    base = _limits(defaults.get("rate_limits"), f"{path}: defaults.rate_limits", RateLimits())
    tools = {}
    for name, spec in data["tools"].items():
        if not isinstance(name, str) or "." in name or not name:
            raise InventoryError(f"{path}: tool names are non-empty and contain no '.', got {name!r}")
        tools[name] = _tool(name, spec, defaults, base, f"{path}: tools.{name}")
    return Inventory(path, hashlib.sha256(raw).hexdigest()[:16], tools)


@dataclass(frozen=True)
class Finding:
    level: str  # error | warning
    message: str


def _open_objects(schema: Any, where: str) -> list[str]:
    """Object schemas that would let an unknown field through."""
    found: list[str] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object" and schema.get("additionalProperties") is not False \
                and schema.get("unevaluatedProperties") is not False:
            found.append(where)
        for key, value in schema.items():
            if key in {"properties", "$defs", "definitions", "patternProperties"} and isinstance(value, dict):
                for name, sub in value.items():
                    found.extend(_open_objects(sub, f"{where}.{name}"))
            elif key in {"items", "additionalProperties"}:
                found.extend(_open_objects(value, f"{where}[]"))
    return found


def check_inventory(inventory: Inventory, bundle: Bundle) -> list[Finding]:
    """What `warden tools check` reports beyond what loading already refused."""
    findings: list[Finding] = []
    known = inventory.qualified_actions
    for workflow in sorted(bundle.workflows.values(), key=lambda w: w.name):
        missing = sorted(workflow.tools - known)
        if missing:
            findings.append(Finding("error", f"workflow {workflow.name} uses {', '.join(missing)}, "
                                             f"which the inventory {inventory.path.name} does not define"))
        tools = {t.split(".", 1)[0] for t in workflow.tools}
        if len(workflow.tools) > V1_TOOL_CAP or len(tools) > V1_TOOL_CAP:
            findings.append(Finding("warning", f"workflow {workflow.name} has {len(workflow.tools)} tool actions; "
                                               f"the v1 cap is {V1_TOOL_CAP} (checklist, least privilege)"))
        policy_ro = {t for t in workflow.read_only_tools if "." in t}
        for action in sorted(workflow.tools & known):
            flagged = action in inventory.read_only_actions
            if flagged != (action in policy_ro or action.split(".")[0] in workflow.read_only_tools):
                findings.append(Finding("warning", f"{action} is {'read-only' if flagged else 'not read-only'} in "
                                                   f"the inventory but {'not ' if flagged else ''}in read_only_tools "
                                                   f"of workflow {workflow.name}; the proxy lets a call through "
                                                   "read-only mode only when both say read-only"))
    for spec in inventory.tools.values():
        for act in spec.actions.values():
            for part, schema in (("input", act.input_schema), ("output", act.output_schema)):
                for where in _open_objects(schema, f"{act.qualified}.{part}"):
                    findings.append(Finding("warning", f"{where} accepts unknown fields: set "
                                                       "additionalProperties: false"))
    return findings
