"""Loading routing.toml: every mistake is refused as a whole, naming the line and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.routing.helpers import ROUTES, policy, write
from warden.routing.policy import DEFAULT_ROUTING, RoutingError, load_routing


def refused(tmp_path: Path, rules: str = "", head: str = ROUTES) -> str:
    with pytest.raises(RoutingError) as caught:
        policy(tmp_path, rules, head)
    return str(caught.value)


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_the_shipped_file_loads_with_its_digest_as_version() -> None:
    p = load_routing(DEFAULT_ROUTING)
    assert len(p.version) == 12 and p.escalation == ("cheap", "default", "strong")
    assert p.default_choice is not None and p.default_choice.route == "default"


def test_a_syntax_error_names_its_line(tmp_path: Path) -> None:
    rules = '\n[[rules]]\nid = "x"\nroute = \n'
    message = refused(tmp_path, rules)
    where = (ROUTES + rules).splitlines().index("route = ") + 1
    assert f"Invalid value (at line {where}, column 9)" in message


def test_an_unknown_route_in_a_rule_names_the_line_and_the_routes(tmp_path: Path) -> None:
    rules = '\n[[rules]]\nid = "a"\nroute = "cheap"\n\n[[rules]]\nid = "b"\nroute = "fast"\n'
    message = refused(tmp_path, rules)
    where = line_of(ROUTES + rules, 'route = "fast"')
    assert f"line {where}:" in message
    assert "expected one of cheap, default, strong, got 'fast'" in message


def test_a_condition_of_the_wrong_type_names_its_line(tmp_path: Path) -> None:
    rules = '\n[[rules]]\nid = "a"\nroute = "cheap"\nwhen.workflow = "refund_ticket"\nwhen.amount_usd = "cheap"\n'
    message = refused(tmp_path, rules)
    assert f"line {line_of(ROUTES + rules, 'when.amount_usd')}:" in message
    assert "when.amount_usd: expected a number" in message and "'cheap'" in message


def test_unknown_bounds_and_bounds_on_text_are_refused(tmp_path: Path) -> None:
    assert "unknown bounds ['below']" in refused(
        tmp_path, '\n[[rules]]\nid = "a"\nroute = "cheap"\nwhen.amount_usd = { below = 5 }\n')
    assert "expected a string or a list of strings" in refused(
        tmp_path, '\n[[rules]]\nid = "a"\nroute = "cheap"\nwhen.tool = { lt = 5 }\n')
    assert "bounds must be numbers" in refused(
        tmp_path, '\n[[rules]]\nid = "a"\nroute = "cheap"\nwhen.size = { lt = "5" }\n')


def test_a_when_table_under_a_header_names_its_own_line(tmp_path: Path) -> None:
    rules = '\n[[rules]]\nid = "a"\nroute = "cheap"\n\n[[rules]]\nid = "b"\nroute = "cheap"\n[rules.when]\n' \
            'workflow = "x"\nrisk_score = [true]\n'
    message = refused(tmp_path, rules)
    assert f"line {line_of(ROUTES + rules, 'risk_score = [true]')}:" in message


def test_duplicate_and_reserved_rule_ids(tmp_path: Path) -> None:
    rules = '\n[[rules]]\nid = "a"\nroute = "cheap"\n\n[[rules]]\nid = "a"\nroute = "strong"\n'
    where = line_of(ROUTES + rules, 'route = "strong"') - 1
    assert f"line {where}:" in refused(tmp_path, rules)
    assert "unique id" in refused(tmp_path, '\n[[rules]]\nid = "default"\nroute = "cheap"\n')


def test_unknown_keys_name_what_is_allowed(tmp_path: Path) -> None:
    assert "unknown key 'routez' in the routing file" in refused(tmp_path, "routez = 1\n",
                                                                 head="routez = 1\n" + ROUTES)
    message = refused(tmp_path, '\n[[rules]]\nid = "a"\nroute = "cheap"\nmatch = 1\n')
    assert "unknown key 'match' in rule #1; expected one of id, route, when, description" in message
    assert "unknown key 'modle'" in refused(tmp_path, head=ROUTES.replace('model = "gpt-4o"', 'modle = "gpt-4o"'))


def test_a_route_needs_a_model(tmp_path: Path) -> None:
    head = ROUTES.replace('model = "gpt-4o"\n', 'model = ""\n')
    where = line_of(head, 'model = ""')
    assert f"line {where}: model: expected a non-empty string, got ''" in refused(tmp_path, head=head)


def test_default_route_and_escalation_must_name_routes(tmp_path: Path) -> None:
    assert "default_route: expected one of the routes" in refused(
        tmp_path, head=ROUTES.replace('default_route = "default"', 'default_route = "medium"'))
    assert "escalation: expected a list of distinct route names" in refused(
        tmp_path, head=ROUTES.replace('["cheap", "default", "strong"]', '["cheap", "cheap"]'))
    assert "line 2:" in refused(tmp_path, head=ROUTES.replace('"strong"]', '"best"]'))


def test_no_routes_is_refused(tmp_path: Path) -> None:
    assert "routes: expected at least one [routes.NAME]" in refused(tmp_path, head='default_route = "a"\n')


def test_tiers_must_be_strings(tmp_path: Path) -> None:
    rules = "\n[tiers]\nacme = 3\n"
    assert f"line {line_of(ROUTES + rules, 'acme = 3')}: tiers:" in refused(tmp_path, rules)


def test_escalation_defaults_to_the_order_of_the_routes(tmp_path: Path) -> None:
    p = policy(tmp_path, head=ROUTES.replace('escalation = ["cheap", "default", "strong"]\n', ""))
    assert p.escalation == ("cheap", "default", "strong")


def test_a_missing_file_is_a_routing_error(tmp_path: Path) -> None:
    with pytest.raises(RoutingError, match="cannot be read"):
        load_routing(tmp_path / "nope.toml")


def test_the_version_changes_with_the_bytes(tmp_path: Path) -> None:
    a = load_routing(write(tmp_path, "", name="a.toml"))
    b = load_routing(write(tmp_path, "\n# a comment\n", name="b.toml"))
    assert a.version != b.version
