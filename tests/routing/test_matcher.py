"""The matcher: first matching rule in file order, conditions by type, escalation along the order."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.routing.helpers import policy
from warden.routing.matcher import decide, escalate, task_features
from warden.routing.policy import DEFAULT_ROUTING, load_routing

RULES = """
[tiers]
initech = "enterprise"

[[rules]]
id = "risky"
route = "strong"
when.risk_score = { ge = 0.7 }

[[rules]]
id = "big-refund"
route = "strong"
when.workflow = "refund_ticket"
when.amount_usd = { gt = 100 }

[[rules]]
id = "small-refund"
route = "cheap"
when.workflow = "refund_ticket"
when.amount_usd = { le = 100 }
when.input_tokens = { lt = 4000 }

[[rules]]
id = "lookups"
route = "cheap"
when.tool = ["crm.lookup", "tickets.update"]

[[rules]]
id = "enterprise"
route = "default"
when.tenant_tier = "enterprise"

[[rules]]
id = "vip-label"
route = "strong"
when.vip = true

[[rules]]
id = "exact-count"
route = "cheap"
when.retries = 3
"""


def route(tmp_path: Path, workflow: str = "refund_ticket", tenant: str = "acme", **features: object) -> str:
    p = policy(tmp_path, RULES)
    choice = decide(p, task_features(p, tenant, workflow, features))  # type: ignore[arg-type]
    return f"{choice.route}:{choice.rule}"


def test_the_first_matching_rule_decides(tmp_path: Path) -> None:
    assert route(tmp_path, amount_usd=500.0, risk_score=0.9) == "strong:risky"  # risky comes first


def test_numeric_bounds_are_exact_at_the_edge(tmp_path: Path) -> None:
    assert route(tmp_path, amount_usd=100, input_tokens=10) == "cheap:small-refund"
    assert route(tmp_path, amount_usd=100.01, input_tokens=10) == "strong:big-refund"
    assert route(tmp_path, amount_usd=42.0, input_tokens=4000) == "default:default"  # lt is strict


def test_every_condition_of_a_rule_must_hold(tmp_path: Path) -> None:
    assert route(tmp_path, "export_report", amount_usd=42.0, input_tokens=10) == "default:default"


def test_a_condition_on_a_missing_feature_is_not_met(tmp_path: Path) -> None:
    assert route(tmp_path, amount_usd=42.0) == "default:default"  # no input_tokens given
    assert route(tmp_path, "export_report") == "default:default"  # no risk_score: risky does not match


def test_lists_match_any_of(tmp_path: Path) -> None:
    assert route(tmp_path, "triage_ticket", tool="tickets.update") == "cheap:lookups"
    assert route(tmp_path, "triage_ticket", tool="crm.delete_record") == "default:default"


def test_the_tenant_tier_comes_from_the_file_unless_the_agent_passes_one(tmp_path: Path) -> None:
    assert route(tmp_path, "export_report", tenant="initech") == "default:enterprise"
    assert route(tmp_path, "export_report", tenant="initech", tenant_tier="free", vip=True) == "strong:vip-label"


def test_the_run_decides_workflow_and_tenant_not_the_agents_features(tmp_path: Path) -> None:
    assert route(tmp_path, "export_report", workflow_override=1, amount_usd=500.0) == "default:default"
    p = policy(tmp_path, RULES)
    seen = task_features(p, "acme", "export_report", {"workflow": "refund_ticket", "amount_usd": 500.0})
    assert seen["workflow"] == "export_report" and decide(p, seen).route == "default"


def test_a_bool_label_is_never_a_number_and_a_number_never_a_bool(tmp_path: Path) -> None:
    assert route(tmp_path, "export_report", vip=1) == "default:default"  # 1 is not true
    assert route(tmp_path, "export_report", retries=3.0) == "cheap:exact-count"  # 3.0 == 3
    assert route(tmp_path, "export_report", retries=True) == "default:default"  # True is not 3 nor 1


def test_text_never_satisfies_a_numeric_bound(tmp_path: Path) -> None:
    p = policy(tmp_path, RULES)
    assert decide(p, {"workflow": "refund_ticket", "amount_usd": "5", "input_tokens": 1}).rule == "default"


def test_escalation_moves_one_route_up_and_stops_at_the_last(tmp_path: Path) -> None:
    p = policy(tmp_path, RULES)
    assert (escalate(p, "cheap").route, escalate(p, "cheap").model) == ("default", "gpt-4o")
    assert escalate(p, "default").route == "strong" and not escalate(p, "default").exhausted
    top = escalate(p, "strong")
    assert (top.route, top.exhausted, top.rule) == ("strong", True, "escalation")
    assert escalate(p, None).route == "strong"  # from the default route
    assert escalate(p, "gone").route == "strong"  # a route the file no longer names: from the default


def test_a_route_outside_the_escalation_order_cannot_escalate(tmp_path: Path) -> None:
    p = policy(tmp_path, head=RULES_HEAD_WITH_ORDER)
    assert escalate(p, "cheap").route == "strong"
    assert escalate(p, "default").exhausted


RULES_HEAD_WITH_ORDER = """default_route = "default"
escalation = ["cheap", "strong"]
[routes.cheap]
model = "a"
[routes.default]
model = "b"
[routes.strong]
model = "c"
"""


def test_the_choice_names_the_model_provider_and_file_version(tmp_path: Path) -> None:
    p = policy(tmp_path, RULES)
    choice = decide(p, {"workflow": "refund_ticket", "amount_usd": 1.0, "input_tokens": 1})
    assert (choice.model, choice.provider, choice.policy_version) == ("gpt-4o-mini", "openai", p.version)


@pytest.mark.parametrize(("workflow", "features", "expected"), [
    ("refund_ticket", {"amount_usd": 42.0, "input_tokens": 800}, "cheap"),
    ("refund_ticket", {"amount_usd": 420.0}, "strong"),
    ("provision_access", {"role": "admin"}, "strong"),
    ("provision_access", {"role": "viewer"}, "default"),
    ("triage_ticket", {}, "cheap"),
    ("export_report", {"risk_score": 0.8}, "strong"),
    ("export_report", {}, "default"),
])
def test_the_shipped_routing_file(workflow: str, features: dict[str, object], expected: str) -> None:
    p = load_routing(DEFAULT_ROUTING)
    assert decide(p, task_features(p, "acme", workflow, features)).route == expected  # type: ignore[arg-type]


def naive(p: object, features: dict[str, object]) -> str:
    """Every rule, every condition, in file order: what the per-workflow index must agree with."""
    for rule in p.rules:  # type: ignore[attr-defined]
        if all(c.check(features) for c in rule.conditions):
            return str(rule.id)
    return "default"


# Tier and workflow conditions first, a rule left with no other condition mid-file, a tier list, two workflows.
TIERED = """
[[rules]]
id = "free-refunds"
route = "cheap"
when.workflow = ["refund_ticket", "export_report"]
when.tenant_tier = ["free", "trial"]

[[rules]]
id = "enterprise-risky"
route = "strong"
when.tenant_tier = "enterprise"
when.risk_score = { ge = 0.5 }

[[rules]]
id = "all-triage"
route = "cheap"
when.workflow = "triage_ticket"

[[rules]]
id = "never-after-triage"
route = "strong"
when.workflow = "triage_ticket"
when.vip = true

[[rules]]
id = "enterprise"
route = "default"
when.tenant_tier = "enterprise"

[[rules]]
id = "admins"
route = "strong"
when.role = "admin"
"""


def test_the_per_workflow_index_decides_as_every_rule_in_order_would(tmp_path: Path) -> None:
    import random

    p = policy(tmp_path, RULES)
    shipped = load_routing(DEFAULT_ROUTING)
    (tmp_path / "tiers").mkdir()
    tiered = policy(tmp_path / "tiers", TIERED)
    rng = random.Random(3)
    for _ in range(3000):
        features: dict[str, object] = {"workflow": rng.choice(["refund_ticket", "triage_ticket", "provision_access",
                                                               "export_report", "other"])}
        for name, make in (("amount_usd", lambda: rng.choice([rng.uniform(0, 200), 100, 100.0])),
                           ("risk_score", rng.random), ("input_tokens", lambda: rng.randint(0, 8000)),
                           ("tool", lambda: rng.choice(["crm.lookup", "x"])), ("vip", lambda: rng.choice([True, 1])),
                           ("tenant_tier", lambda: rng.choice(["enterprise", "free", "trial", "gold", 5])),
                           ("role", lambda: rng.choice(["admin", "viewer"])), ("retries", lambda: 3)):
            if rng.random() < 0.5:
                features[name] = make()
        for chosen in (p, shipped, tiered):
            assert decide(chosen, features).rule == naive(chosen, features), features  # type: ignore[arg-type]
