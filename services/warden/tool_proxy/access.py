"""Allow/deny lists per tenant and per workflow, on top of the inventory, reloaded while the proxy runs.

Entries are "tool", "tool.action" or "*". Any matching deny refuses; an allow list that applies
and does not match refuses too. A file that stops parsing keeps the last good lists in force
(and says why), like the policy bundle does.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from warden.core.errors import ConfigError
from warden.core.last_good import LastGood
from warden.core.shipped import POLICIES

DEFAULT_ACCESS = POLICIES / "tools" / "access.yaml"
log = logging.getLogger("warden.tool_proxy")


@dataclass(frozen=True)
class Rule:
    allow: frozenset[str] | None = None  # None: no allow list (everything in the inventory)
    deny: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AccessLists:
    tenants: dict[str, Rule] = field(default_factory=dict)
    workflows: dict[str, Rule] = field(default_factory=dict)
    version: str = "none"

    def refusal(self, tenant_id: str, workflow: str, tool: str, action: str) -> str | None:
        """Why this call is refused, or None."""
        names = {"*", tool, f"{tool}.{action}"}
        for kind, key, rule in (("tenant", tenant_id, self.tenants.get(tenant_id)),
                                ("workflow", workflow, self.workflows.get(workflow))):
            if rule is None:
                continue
            hit = sorted(names & rule.deny)
            if hit:
                return f"{tool}.{action} is on the deny list of {kind} {key} (entry {hit[-1]!r})"
            if rule.allow is not None and not names & rule.allow:
                return f"{tool}.{action} is not on the allow list of {kind} {key}"
        return None


def _entries(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: expected a list of \"tool\", \"tool.action\" or \"*\", got {value!r}")
    return frozenset(value)


def _rules(value: Any, where: str) -> dict[str, Rule]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of name -> {{allow: [...], deny: [...]}}")
    rules = {}
    for name, spec in value.items():
        if not isinstance(spec, dict) or set(spec) - {"allow", "deny"}:
            raise ConfigError(f"{where}.{name}: takes `allow` and/or `deny` lists, got {spec!r}")
        rules[str(name)] = Rule(_entries(spec["allow"], f"{where}.{name}.allow") if "allow" in spec else None,
                                _entries(spec.get("deny", []), f"{where}.{name}.deny"))
    return rules


def load_access(path: Path) -> AccessLists:
    if not path.exists():
        return AccessLists()
    try:
        text = path.read_text()
        data = yaml.safe_load(text) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"allow/deny lists {path} do not parse: {exc}") from exc
    if not isinstance(data, dict) or set(data) - {"tenants", "workflows"}:
        raise ConfigError(f"{path}: expected `tenants` and/or `workflows` mappings")
    return AccessLists(_rules(data.get("tenants"), f"{path}: tenants"),
                       _rules(data.get("workflows"), f"{path}: workflows"),
                       hashlib.sha256(text.encode()).hexdigest()[:16])


class AccessWatcher(LastGood[AccessLists]):
    """The lists as the proxy sees them: checked at most every ``interval_s``, a broken edit refused."""

    def __init__(self, path: Path, interval_s: float = 1.0) -> None:
        super().__init__(path, load_access, ConfigError, "allow/deny lists", lambda lists: lists.version, interval_s)

    @property
    def lists(self) -> AccessLists:
        return self.value
