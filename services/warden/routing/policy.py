"""policies/routing.toml: task features -> route, route -> model; loaded whole or refused with its line.

    default_route = "default"                    # when no rule matches
    escalation = ["cheap", "default", "strong"]  # run.escalate() moves one step along this (default: file order)
    [routes.cheap]    model = "gpt-4o-mini", provider = "openai"
    [tiers]           acme = "enterprise"        # tenant -> tenant_tier, when the agent does not pass one
    [[rules]]         id = "small-refunds", route = "cheap"
                      when.workflow = "refund_ticket", when.amount_usd = {lt = 50}

Rules are tried in file order and the first whose every condition holds decides. A file that does not
parse, names a route that does not exist or a condition of the wrong type is refused as a whole, with
its line and what was expected: nothing half-loaded ever routes (the watcher keeps the last good one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warden.core.errors import ConfigError
from warden.core.tomlfile import read_toml
from warden.core.tomllines import Path as KeyPath
from warden.core.tomllines import TomlLines
from warden.routing.conditions import Condition, ConditionError, parse
from warden.routing.tables import ByTier, compile_tables

DEFAULT_ROUTING = Path(__file__).resolve().parents[3] / "policies" / "routing.toml"
TOP_KEYS = ("default_route", "escalation", "routes", "tiers", "rules")
ROUTE_KEYS = ("model", "provider", "description")
RULE_KEYS = ("id", "route", "when", "description")


class RoutingError(ConfigError):
    """The routing file does not parse or does not describe routes and rules; names the line."""


@dataclass(frozen=True, slots=True)
class RouteChoice:
    """What `run.route` and `run.escalate` return: the route, the model to call on it, and why."""

    route: str
    model: str
    provider: str
    rule: str  # the id of the rule that decided, "default" when none matched, "escalation"
    policy_version: str  # the routing file's digest, recorded on the decision
    exhausted: bool = False  # escalate() at the last route: no stronger one (hand the task to a human)


@dataclass(frozen=True)
class Route:
    name: str
    model: str
    provider: str = ""
    description: str = ""


@dataclass(frozen=True)
class Rule:
    id: str
    route: str
    conditions: tuple[Condition, ...]
    description: str = ""


@dataclass(frozen=True)
class RoutingPolicy:
    path: Path
    version: str
    routes: dict[str, Route]
    default_route: str
    escalation: tuple[str, ...]
    rules: tuple[Rule, ...]
    tiers: dict[str, str] = field(default_factory=dict)
    # Compiled once per loaded file for the matcher (warden.routing.tables): per workflow and tier the file
    # names, the rules that can still match; `any_workflow` for a workflow no rule names.
    by_workflow: dict[str, ByTier] = field(default_factory=dict)
    any_workflow: ByTier = field(default_factory=ByTier)
    default_choice: RouteChoice | None = None
    next_choice: dict[str, RouteChoice] = field(default_factory=dict)

    def choice(self, route: str, rule: str, exhausted: bool = False) -> RouteChoice:
        found = self.routes[route]
        return RouteChoice(route, found.model, found.provider, rule, self.version, exhausted)


class _Reader:
    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines = path, TomlLines(text)

    def error(self, where: KeyPath, message: str) -> RoutingError:
        line = self.lines.line(where)
        return RoutingError(f"{self.path}{f' line {line}' if line else ''}: {message}")

    def text(self, table: dict[str, Any], key: str, where: KeyPath, required: bool = True) -> str:
        value = table.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value):
            raise self.error((*where, key), f"{key}: expected a non-empty string, got {value!r}")
        return value

    def only(self, table: dict[str, Any], allowed: tuple[str, ...], where: KeyPath, what: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.error((*where, key), f"unknown key {key!r} in {what}; expected one of {', '.join(allowed)}")


def load_routing(path: Path = DEFAULT_ROUTING) -> RoutingPolicy:
    path = Path(path)
    source = read_toml(path, "routing file", RoutingError)
    reader = _Reader(path, path.read_text(encoding="utf-8"))
    doc = source.document
    reader.only(doc, TOP_KEYS, (), "the routing file")
    routes = _routes(reader, doc.get("routes"))
    default = doc.get("default_route")
    if default not in routes:
        raise reader.error(("default_route",), f"default_route: expected one of the routes "
                           f"({', '.join(routes)}), got {default!r}")
    escalation = _escalation(reader, doc.get("escalation", list(routes)), routes)
    tiers = doc.get("tiers", {})
    if not isinstance(tiers, dict) or any(not isinstance(v, str) or not v for v in tiers.values()):
        bad = next((k for k, v in tiers.items() if not isinstance(v, str) or not v), None) \
            if isinstance(tiers, dict) else None
        raise reader.error(("tiers", bad) if bad else ("tiers",),
                           f"tiers: expected a table of tenant = \"tier\" strings, got {tiers!r:.80}")
    rules = _rules(reader, doc.get("rules", []), routes)
    policy = RoutingPolicy(path, source.digest, routes, default, escalation, rules, dict(tiers))
    default_choice = policy.choice(default, "default")
    by_workflow, any_workflow = compile_tables(rules, {r.id: policy.choice(r.route, r.id) for r in rules},
                                               default_choice)
    following = {}
    for route in routes:
        order = escalation.index(route) if route in escalation else -1
        if 0 <= order < len(escalation) - 1:
            following[route] = policy.choice(escalation[order + 1], "escalation")
        else:  # the last route of the order (or one outside it): nowhere stronger to go
            following[route] = policy.choice(route, "escalation", exhausted=True)
    return RoutingPolicy(path, source.digest, routes, default, escalation, rules, dict(tiers), by_workflow,
                         any_workflow, default_choice, following)


def _routes(reader: _Reader, table: Any) -> dict[str, Route]:
    if not isinstance(table, dict) or not table:
        raise reader.error(("routes",), f"routes: expected at least one [routes.NAME] table with a model, "
                           f"got {table!r:.80}")
    routes = {}
    for name, spec in table.items():
        where = ("routes", name)
        if not isinstance(spec, dict):
            raise reader.error(where, f"routes.{name}: expected a table with model = \"...\", got {spec!r:.60}")
        reader.only(spec, ROUTE_KEYS, where, f"[routes.{name}]")
        routes[name] = Route(name, reader.text(spec, "model", where), reader.text(spec, "provider", where, False),
                             reader.text(spec, "description", where, False))
    return routes


def _escalation(reader: _Reader, order: Any, routes: dict[str, Route]) -> tuple[str, ...]:
    if not isinstance(order, list) or not order or any(r not in routes for r in order) or len(set(order)) < len(order):
        raise reader.error(("escalation",), f"escalation: expected a list of distinct route names from "
                           f"{', '.join(routes)}, got {order!r:.80}")
    return tuple(order)


def _rules(reader: _Reader, items: Any, routes: dict[str, Route]) -> tuple[Rule, ...]:
    if not isinstance(items, list):
        raise reader.error(("rules",), f"rules: expected [[rules]] tables, got {items!r:.60}")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, spec in enumerate(items):
        where: KeyPath = ("rules", index)
        if not isinstance(spec, dict):
            raise reader.error(where, f"rule #{index + 1}: expected a table, got {spec!r:.60}")
        reader.only(spec, RULE_KEYS, where, f"rule #{index + 1}")
        rule_id = reader.text(spec, "id", where)
        if rule_id in seen or rule_id in ("default", "escalation"):
            raise reader.error((*where, "id"), f"rule id {rule_id!r}: expected a unique id other than default "
                               "and escalation")
        seen.add(rule_id)
        route = spec.get("route")
        if route not in routes:
            raise reader.error((*where, "route"), f"rule {rule_id!r}: route: expected one of {', '.join(routes)}, "
                               f"got {route!r}")
        when = spec.get("when", {})
        if not isinstance(when, dict):
            raise reader.error((*where, "when"), f"rule {rule_id!r}: when: expected a table of feature "
                               f"conditions, got {when!r:.60}")
        conditions = []
        for feature, condition in when.items():
            try:
                conditions.append(parse(feature, condition))
            except ConditionError as exc:
                raise reader.error((*where, "when", feature), f"rule {rule_id!r}: {exc}") from None
        rules.append(Rule(rule_id, route, tuple(conditions), reader.text(spec, "description", where, False)))
    return tuple(rules)
