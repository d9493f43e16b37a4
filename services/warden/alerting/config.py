"""Alert thresholds per workflow, from a TOML file the operator owns (policies/alerts.toml).

A workflow's table overrides any key of [defaults]; unknown keys and wrong types are refused
at load with the file and the key named, so a typo never silently keeps a default in force.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from warden.core.errors import ConfigError
from warden.core.shipped import POLICIES

DEFAULT_ALERT_RULES = POLICIES / "alerts.toml"


@dataclass(frozen=True)
class Thresholds:
    runaway_step_limit: int = 50
    tool_failure_count: int = 5
    tool_failure_window_s: int = 300
    quiet_resolve_s: int = 900
    cost_bucket_s: int = 300
    cost_history: int = 24
    cost_min_history: int = 6
    cost_mad_k: float = 6.0
    cost_min_ratio: float = 4.0
    cost_min_usd: float = 0.25
    success_bucket_s: int = 900
    success_history: int = 16
    success_min_history: int = 4
    success_min_runs: int = 8
    success_mad_k: float = 4.0
    success_min_drop: float = 0.25
    block_bucket_s: int = 900
    block_history: int = 16
    block_min_history: int = 4
    block_mad_k: float = 6.0
    block_min_ratio: float = 3.0
    block_min_count: int = 5
    context_growth_min_calls: int = 4  # growing llm_calls in a row (each reading more input) before it fires
    context_growth_tokens_per_step: float = 250.0  # input tokens added per step (least squares) that fire
    context_growth_min_ratio: float = 2.0  # and the last call's input at least this times the first's


@dataclass(frozen=True)
class AlertRules:
    defaults: Thresholds = field(default_factory=Thresholds)
    workflows: dict[str, Thresholds] = field(default_factory=dict)
    renotify_s: float = 1800.0  # a firing alert is re-sent at most this often (event time)
    source: str = "built-in defaults"

    def for_workflow(self, workflow: str) -> Thresholds:
        return self.workflows.get(workflow, self.defaults)


_TYPES = {f.name: (float if f.type in ("float", float) else int) for f in fields(Thresholds)}


def _overrides(table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of thresholds, got {type(table).__name__}")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _TYPES:
            raise ConfigError(f"{where}: unknown threshold {key!r}; expected one of {', '.join(sorted(_TYPES))}")
        kind = _TYPES[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and isinstance(value, float)):
            raise ConfigError(f"{where}.{key} must be a{'n integer' if kind is int else ' number'}, got {value!r}")
        if value < 0 or (key.endswith(("_s", "_history", "_limit", "_count")) and value == 0):
            raise ConfigError(f"{where}.{key} must be positive, got {value!r}")
        out[key] = kind(value)
    return out


def load_rules(path: Path = DEFAULT_ALERT_RULES, renotify_s: float = 1800.0) -> AlertRules:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"alert rules file {path} does not exist") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"alert rules file {path}: {exc}") from exc
    unknown = set(data) - {"defaults", "workflows"}
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}; expected [defaults] and [workflows.NAME]")
    defaults = replace(Thresholds(), **_overrides(data.get("defaults", {}), f"{path} [defaults]"))
    workflows_table = data.get("workflows", {})
    if not isinstance(workflows_table, dict):
        raise ConfigError(f"{path}: [workflows] must hold one table per workflow")
    workflows = {name: replace(defaults, **_overrides(table, f"{path} [workflows.{name}]"))
                 for name, table in workflows_table.items()}
    return AlertRules(defaults, workflows, renotify_s, str(path))
