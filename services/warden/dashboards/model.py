"""The dashboards in dashboards/ read as typed panels, so the report and the tests run the same SQL
Grafana runs. Only what Warden needs from Grafana's JSON model is read; the files stay plain
Grafana dashboards anyone can edit in Grafana and export back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden.core.errors import ConfigError
from warden.dashboards.targets import Goal

DASHBOARDS_DIR = Path(__file__).resolve().parents[3] / "dashboards"
DATASOURCE_UID = "warden-clickhouse"
DATASOURCE_TYPE = "grafana-clickhouse-datasource"
FORMAT_TIMESERIES, FORMAT_TABLE = 0, 1  # the ClickHouse plugin's numeric `format` of a target


@dataclass(frozen=True)
class Target:
    ref_id: str
    sql: str
    format: int


@dataclass(frozen=True)
class Panel:
    id: int
    title: str
    type: str  # Grafana visualization: stat, timeseries, barchart, piechart, table
    description: str
    unit: str
    targets: tuple[Target, ...]
    goal: Goal | None = None  # the target it is judged on (warden.dashboards.build), if it states one

    @property
    def sql(self) -> str:
        return self.targets[0].sql


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    sql: str
    include_all: bool
    multi: bool


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    path: Path
    variables: tuple[Variable, ...]
    panels: tuple[Panel, ...]
    raw: dict[str, Any]

    def variable(self, name: str) -> Variable:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(name)


def _panels(raw: list[dict[str, Any]], path: Path, goals: dict[int, Goal]) -> list[Panel]:
    out: list[Panel] = []
    for item in raw:
        if item.get("type") == "row":
            out.extend(_panels(item.get("panels", []), path, goals))
            continue
        targets = tuple(
            Target(t.get("refId", "A"), t["rawSql"], int(t.get("format", FORMAT_TABLE)))
            for t in item.get("targets", []) if t.get("rawSql")
        )
        if not targets:
            raise ConfigError(f"{path.name}: panel {item.get('id')} {item.get('title')!r} has no SQL target "
                              "(expected targets[].rawSql for the ClickHouse data source)")
        unit = item.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        out.append(Panel(int(item["id"]), item.get("title", ""), item["type"], item.get("description", ""), unit,
                         targets, goals.get(int(item["id"]))))
    return out


def load_raw(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read dashboard {path}: {exc}") from exc
    if not isinstance(raw, dict) or "uid" not in raw:
        raise ConfigError(f"dashboard {path} is not a Grafana dashboard (a JSON object with a uid)")
    return raw


def load(path: Path) -> Dashboard:
    """The file as it is (no targets attached: warden.dashboards.build.dashboards() attaches them)."""
    return parse(path, load_raw(path))


def parse(path: Path, raw: dict[str, Any], goals: dict[int, Goal] | None = None) -> Dashboard:
    variables = tuple(
        Variable(v["name"], v.get("label", v["name"]),
                 v["query"] if isinstance(v["query"], str) else v["query"]["rawSql"],
                 bool(v.get("includeAll")), bool(v.get("multi")))
        for v in raw.get("templating", {}).get("list", []) if v.get("type") == "query"
    )
    return Dashboard(raw["uid"], raw["title"], raw.get("description", ""), path, variables,
                     tuple(_panels(raw.get("panels", []), path, goals or {})), raw)


def load_all(directory: Path = DASHBOARDS_DIR) -> list[Dashboard]:
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise ConfigError(f"no dashboards (*.json) in {directory}")
    return [load(p) for p in paths]
