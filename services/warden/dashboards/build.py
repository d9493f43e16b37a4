"""`warden dashboards build`: write into dashboards/*.json what must not be copied by hand.

- thresholds: every panel that states a target gets Grafana threshold steps from the workflow
  targets (policies/workflows.toml `[defaults.targets]`) or, for the HITL share, the risk-scorer's
  5-10% range, and a trailing "Target ..." sentence in its description saying so; a stat panel with
  no target is drawn in a neutral colour (Grafana's default thresholds would show any value green);
- SQL: the panels that compute a workflow metric (warden.dashboards.metric_sql), count approval
  requests (warden.dashboards.queries) or attribute blocks get their rawSql from that one place.

Everything else in the files (layout, other panels' SQL) is edited in Grafana or by hand as before.
`warden report` and `warden dashboards push` build in memory from the current sources, and
tests/dashboards/test_build.py fails when the checked-in JSON is not what the sources produce.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warden.core.errors import ConfigError
from warden.core.tomlfile import read_toml
from warden.core.workflows import DEFAULT_WORKFLOWS_FILE, Targets, load_contracts
from warden.cost.prices import DEFAULT_PRICES, PriceTable
from warden.dashboards import queries
from warden.dashboards.metric_sql import metrics_sql
from warden.dashboards.model import DASHBOARDS_DIR, Dashboard, load_raw
from warden.dashboards.targets import Goal
from warden.risk_scorer.settings import SHARE_RANGE

NEUTRAL = {"mode": "fixed", "fixedColor": "text"}
_TARGET_SENTENCE = re.compile(r"\s*Target [^\n]*$")


@dataclass(frozen=True)
class Sources:
    """What the generated parts are made from."""

    defaults: Targets  # [defaults.targets]: what the dashboards' thresholds show
    own: dict[str, Targets]  # workflows whose targets differ from the defaults, named in descriptions
    prices: PriceTable
    hitl_range: tuple[float, float]
    workflows_file: Path

    @classmethod
    def load(cls, workflows_file: Path = DEFAULT_WORKFLOWS_FILE, prices_file: Path = DEFAULT_PRICES) -> Sources:
        document = read_toml(workflows_file, "workflows file").document
        try:
            defaults = Targets.model_validate(document.get("defaults", {}).get("targets", {}))
        except ValueError as exc:
            raise ConfigError(f"{workflows_file}: [defaults.targets] is not valid: {exc}") from exc
        own = {name: c.targets for name, c in sorted(load_contracts(workflows_file).items()) if c.targets != defaults}
        return cls(defaults, own, PriceTable.load(prices_file), SHARE_RANGE, workflows_file)

    def goal(self, metric: str, unit: str) -> Goal | None:
        where = f"{self.workflows_file.parent.name}/{self.workflows_file.name}"
        if metric == "hitl_share":
            return Goal(metric, self.hitl_range[0], self.hitl_range[1], unit,
                        "the share of runs humans review, checklist §3; the range the risk-scorer is held to")
        key = f"{metric}_min" if metric == "task_success_rate" else f"{metric}_max"
        value = getattr(self.defaults, key)
        if value is None:
            return None
        low: float | None = float(value) if key.endswith("_min") else None
        high: float | None = None if key.endswith("_min") else float(value)
        source = f"{where} [defaults.targets] {key}"
        differ = [f"{name} {_bound(getattr(t, key), key, unit)}" for name, t in self.own.items()
                  if getattr(t, key) != value]
        if differ:
            source += "; set by the workflow itself: " + ", ".join(differ)
        return Goal(metric, low, high, unit, source)


def _bound(value: float | None, key: str, unit: str) -> str:
    if value is None:
        return "none"
    goal = Goal("", value, None, unit, "") if key.endswith("_min") else Goal("", None, value, unit, "")
    return goal.text().removeprefix("target ")


SqlOf = Callable[[Sources], str]


@dataclass(frozen=True)
class Spec:
    goal: str | None = None  # a metric of warden.core.metrics, or hitl_share
    sql: SqlOf | None = None


def _metric(*metrics: str, group: tuple[tuple[str, str], ...] = (), having: str = "") -> SqlOf:
    return lambda s: metrics_sql(s.prices, metrics, group, having)


_BY_RELEASE = (("$__timeInterval(started_at)", "time"), ("concat(workflow, ' ', release)", "series"))

SPECS: dict[str, dict[str, Spec]] = {  # dashboard uid -> panel title -> what is generated
    "warden-operations": {
        "Run success rate": Spec("task_success_rate", _metric("task_success_rate")),
        "p95 run latency": Spec("latency_p95_s", _metric("latency_p95_s")),
        "High-severity rate": Spec("high_severity_rate", _metric("high_severity_rate")),
        "Success rate by workflow": Spec(sql=_metric("task_success_rate", group=(("workflow", "workflow"),),
                                                     having="sum(done) > 0")),
        "Policy violation rate": Spec("violation_rate", _metric("violation_rate")),
        "Blocks by policy": Spec(sql=lambda s: queries.blocks_by_policy()),
        "Approval requests and decisions": Spec(sql=lambda s: queries.requests_and_decisions()),
        "Approval requests by sender": Spec(sql=lambda s: queries.requests_by_sender()),
        "Approval outcomes": Spec(sql=lambda s: queries.outcomes()),
        "Time to decision": Spec(sql=lambda s: queries.time_to_decision()),
        "Approvers": Spec(sql=lambda s: queries.approvers()),
        "HITL share of runs": Spec("hitl_share", lambda s: queries.hitl_share()),
        "HITL share over time": Spec("hitl_share", lambda s: queries.hitl_share_over_time()),
    },
    "warden-spend": {
        "Cost per completed task": Spec("cost_per_task_usd", _metric("cost_per_task_usd")),
        "Cost per completed task by workflow": Spec(sql=_metric("cost_per_task_usd", group=(("workflow", "workflow"),),
                                                                having="sum(done) > 0")),
    },
    "warden-readiness": {
        "Task success rate by release": Spec("task_success_rate", _metric("task_success_rate", group=_BY_RELEASE,
                                                                          having="sum(done) > 0")),
        "Cost per task by release": Spec("cost_per_task_usd", _metric("cost_per_task_usd", group=_BY_RELEASE,
                                                                      having="sum(done) > 0")),
        "Eval success rate": Spec("task_success_rate"),
    },
}


@dataclass
class Built:
    path: Path
    raw: dict[str, Any]
    goals: dict[int, Goal] = field(default_factory=dict)  # panel id -> its target

    @property
    def text(self) -> str:
        return json.dumps(self.raw, indent=2, ensure_ascii=False) + "\n"


def _panels(raw: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in raw.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return [p for p in out if p.get("type") != "row"]


def build(path: Path, raw: dict[str, Any], sources: Sources) -> Built:
    raw = copy.deepcopy(raw)
    specs = SPECS.get(raw.get("uid", ""), {})
    titles = {p.get("title") for p in _panels(raw)}
    missing = sorted(set(specs) - titles)
    if missing:
        raise ConfigError(f"{path.name}: no panel titled {', '.join(map(repr, missing))}, which "
                          "warden.dashboards.build generates (rename it there too)")
    built = Built(path, raw)
    for panel in _panels(raw):
        spec = specs.get(panel.get("title", ""), Spec())
        defaults = panel.setdefault("fieldConfig", {}).setdefault("defaults", {})
        if spec.sql is not None:
            panel["targets"][0]["rawSql"] = spec.sql(sources)
        goal = sources.goal(spec.goal, defaults.get("unit", "")) if spec.goal else None
        description = _TARGET_SENTENCE.sub("", panel.get("description", ""))
        if goal is not None:
            built.goals[int(panel["id"])] = goal
            panel["description"] = f"{description} Target {goal.text().removeprefix('target ')} ({goal.source})."
            defaults["thresholds"] = {"mode": "absolute", "steps": goal.steps()}
            if panel["type"] == "timeseries":
                defaults["color"] = {"mode": "palette-classic"}
                defaults.setdefault("custom", {})["thresholdsStyle"] = {"mode": "dashed"}
            else:
                defaults["color"] = {"mode": "thresholds"}
        else:
            panel["description"] = description
            if panel["type"] == "stat":
                defaults["color"] = dict(NEUTRAL)
                defaults["thresholds"] = {"mode": "absolute", "steps": [{"color": "text", "value": None}]}
    return built


def build_all(sources: Sources | None = None, directory: Path = DASHBOARDS_DIR) -> list[Built]:
    sources = sources or Sources.load()
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise ConfigError(f"no dashboards (*.json) in {directory}")
    return [build(p, load_raw(p), sources) for p in paths]


def stale(built: list[Built]) -> list[Path]:
    """The files whose text is not what the sources produce."""
    return [b.path for b in built if b.path.read_text(encoding="utf-8") != b.text]


def write(built: list[Built]) -> list[Path]:
    changed = stale(built)
    for b in built:
        if b.path in changed:
            try:
                b.path.write_text(b.text, encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot write {b.path}: {exc}") from exc
    return changed


def dashboards(sources: Sources | None = None, directory: Path = DASHBOARDS_DIR) -> list[Dashboard]:
    """The dashboards as the current sources make them (what the report and push use)."""
    from warden.dashboards.model import parse

    return [parse(b.path, b.raw, b.goals) for b in build_all(sources, directory)]
