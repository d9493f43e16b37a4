"""The routing file's rules compiled once per loaded file into tables the matcher reads on every run.route.

A decision's workflow and tenant tier come from finite sets the file itself names (the workflows and tiers
its conditions mention; any other value is "none of them"), so the rules are resolved against both when the
file loads: per (workflow, tier) a table keeps, in file order, only the rules that can still match, each as
one check of its remaining conditions; a rule left with no condition ends the table as its `otherwise`.
Amounts, scores, sizes and labels are free values: they are checked on each call, never tabled or memoised.
tests/routing/test_matcher.py checks the tables decide as every rule tried in order would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from warden.routing.conditions import Check, Condition, all_of

if TYPE_CHECKING:
    from warden.routing.policy import RouteChoice, Rule


@dataclass(frozen=True, slots=True)
class Table:
    rules: tuple[tuple[Check, RouteChoice], ...]  # tried in order: the first whose check holds decides
    otherwise: RouteChoice  # a rule with no condition left, or the default route


@dataclass(frozen=True, slots=True)
class ByTier:
    """One workflow's tables: per tier the file names, and `other` for any other tier (or none)."""

    named: dict[str, Table] = field(default_factory=dict)
    other: Table | None = None


def _names(rules: Iterable[Rule], feature: str) -> set[str]:
    return {value for rule in rules for c in rule.conditions if c.feature == feature for value in _values(c)}


def _values(condition: Condition) -> list[str]:
    spec = condition.spec
    return [v for v in (spec if isinstance(spec, list) else [spec]) if isinstance(v, str)]


def _table(rules: Iterable[Rule], choices: dict[str, RouteChoice], default: RouteChoice, workflow: str | None,
           tier: str | None) -> Table:
    """`workflow`/`tier` None: a value no condition names (or none at all), which no such condition accepts."""
    kept: list[tuple[Check, RouteChoice]] = []
    for rule in rules:
        rest: list[Check] = []
        possible = True
        for condition in rule.conditions:
            if condition.feature in ("workflow", "tenant_tier"):
                value = workflow if condition.feature == "workflow" else tier
                possible = possible and value is not None and value in _values(condition)
            else:
                rest.append(condition.check)
        if not possible:
            continue
        if not rest:
            return Table(tuple(kept), choices[rule.id])
        kept.append((all_of(rest), choices[rule.id]))
    return Table(tuple(kept), default)


def compile_tables(rules: tuple[Rule, ...], choices: dict[str, RouteChoice],
                   default: RouteChoice) -> tuple[dict[str, ByTier], ByTier]:
    """Per workflow the file names, its tables; and the tables of any other workflow."""
    tiers = sorted(_names(rules, "tenant_tier"))

    def by_tier(workflow: str | None) -> ByTier:
        return ByTier({t: _table(rules, choices, default, workflow, t) for t in tiers},
                      _table(rules, choices, default, workflow, None))

    return {w: by_tier(w) for w in sorted(_names(rules, "workflow"))}, by_tier(None)
