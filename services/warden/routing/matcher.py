"""The routing decision, pure: the same features and file give the same route live and in `warden replay`."""

from __future__ import annotations

from warden.routing.features import Features
from warden.routing.policy import RouteChoice, RoutingPolicy


def task_features(policy: RoutingPolicy, tenant_id: str, workflow: str, features: Features) -> Features:
    """What a decision sees: the agent's features plus the run's workflow and tenant, and the tenant's tier
    from the file's [tiers] when the agent did not pass one (the run's own values win over the agent's)."""
    seen = {**features, "workflow": workflow, "tenant": tenant_id}
    if "tenant_tier" not in features:
        tier = policy.tiers.get(tenant_id)
        if tier is not None:
            seen["tenant_tier"] = tier
    return seen


def decide(policy: RoutingPolicy, features: Features) -> RouteChoice:
    """The first rule whose every condition holds, else the default route: read from the file's tables for
    the task's workflow and tier (warden.routing.tables), which hold the rules that can match them."""
    workflow = features.get("workflow")
    by_tier = policy.by_workflow.get(workflow, policy.any_workflow) if type(workflow) is str else policy.any_workflow
    tier = features.get("tenant_tier")
    table = by_tier.named.get(tier, by_tier.other) if type(tier) is str else by_tier.other
    assert table is not None
    for match, choice in table.rules:
        if match(features):
            return choice
    return table.otherwise


def escalate(policy: RoutingPolicy, current: str | None) -> RouteChoice:
    """The next route of the escalation order; at its end the same route, marked exhausted. A route the
    file no longer names (the file changed under a running task) escalates from the default route."""
    choice = policy.next_choice.get(current or policy.default_route)
    return choice if choice is not None else policy.next_choice[policy.default_route]
