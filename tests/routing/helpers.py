"""A routing file written for a test."""

from __future__ import annotations

from pathlib import Path

from warden.routing.policy import RoutingPolicy, load_routing

ROUTES = """default_route = "default"
escalation = ["cheap", "default", "strong"]

[routes.cheap]
model = "gpt-4o-mini"
provider = "openai"

[routes.default]
model = "gpt-4o"
provider = "openai"

[routes.strong]
model = "claude-3-5-sonnet"
provider = "anthropic"
"""


def write(tmp_path: Path, rules: str = "", head: str = ROUTES, name: str = "routing.toml") -> Path:
    path = tmp_path / name
    path.write_text(head + rules, encoding="utf-8")
    return path


def policy(tmp_path: Path, rules: str = "", head: str = ROUTES) -> RoutingPolicy:
    return load_routing(write(tmp_path, rules, head))
