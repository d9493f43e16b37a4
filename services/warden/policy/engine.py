"""Three outcomes from Cedar's two: allow, deny, require_approval.

Cedar answers allow or deny and names the policies that decided. A deny decided only by
forbid policies annotated @outcome("require_approval") becomes require_approval; any plain
forbid makes it a deny; no permit at all is a deny naming no policy. An evaluation error in
any policy denies the call (fail closed), because Cedar skips an erroring policy and a skipped
forbid would otherwise let the call through.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import cedarpy

from warden.core.records import Decision
from warden.policy.bundle import APPROVAL, Bundle
from warden.policy.switches import Switches


@dataclass(frozen=True)
class PolicyRequest:
    tenant_id: str
    workflow: str
    agent_id: str
    tool: str
    action: str
    resource: str | None
    params: dict[str, Any] | None  # None: the params were not a JSON object
    step: int = 1
    spend_usd: float = 0.0
    denials: int = 0
    at: datetime | None = None  # the call's event time; switches set later do not apply to it


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    policy_ids: tuple[str, ...]
    reason: str
    stop_ship: bool = False


def decimal(value: float) -> dict[str, Any]:
    """Cedar has no floats: every JSON number reaches policies as a decimal (4 fractional digits)."""
    return {"__extn": {"fn": "decimal", "arg": f"{value:.4f}"}}


def cedar_value(value: Any) -> Any:
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return decimal(max(min(float(value), 9e14), -9e14))
    if isinstance(value, dict):
        return {str(k): cedar_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [cedar_value(v) for v in value if v is not None]
    return str(value)


def cedar_request(bundle: Bundle, request: PolicyRequest) -> dict[str, Any]:
    workflow = bundle.workflow(request.workflow)
    tool_action = f"{request.tool}.{request.action}"
    # Entity uids in the structured form: Cedar parses the surface form ('Agent::"x"') on every
    # call (≈ 20 µs of the ≈ 100 µs a decision costs) and rejects ids it would need to normalize.
    return {
        "principal": {"type": "Agent", "id": request.agent_id},
        "action": {"type": "Action", "id": tool_action},
        "resource": {"type": "Resource", "id": request.resource or tool_action},
        "context": {
            "params": cedar_value(request.params or {}),
            "run": {
                "workflow": request.workflow,
                "step": request.step,
                "spend_usd": decimal(request.spend_usd),
                "denials": request.denials,
                "tool_in_inventory": tool_action in workflow.tools,
            },
        },
    }


@lru_cache(maxsize=4096)
def agent_entities(agent_id: str, tenant_id: str) -> cedarpy.Entities:
    """The agent and its tenant, parsed once per pair: agents call many tools, and parsing the
    entity list is a fifth of a decision's cost."""
    return cedarpy.Entities.from_json_str(json.dumps([
        {"uid": {"type": "Agent", "id": agent_id}, "attrs": {}, "parents": [{"type": "Tenant", "id": tenant_id}]},
        {"uid": {"type": "Tenant", "id": tenant_id}, "attrs": {}, "parents": []},
    ]))


def evaluate(bundle: Bundle, request: PolicyRequest, switches: Switches | None = None) -> Verdict:
    """Switches first; the policies are still evaluated under a switch so the decision records
    which rules the call would have met (policy-block figures stay meaningful while a switch is on)."""
    try:
        ents = agent_entities(request.agent_id, request.tenant_id)
    except ValueError as exc:  # fail closed, as for any evaluation error
        ents = None
        policies = Verdict(Decision.DENY, (), f"policy evaluation error, denied (fail closed): agent "
                           f"{request.agent_id!r} of tenant {request.tenant_id!r} is not a Cedar entity: {exc}")
    if request.params is None:
        policies = Verdict(Decision.DENY, (), "invalid params")
    elif ents is not None:
        cedar = cedar_request(bundle, request)
        result = cedarpy.is_authorized(cedar, bundle.policy_set, ents)
        policies = verdict(bundle, request, result)
        if policies.decision == Decision.REQUIRE_APPROVAL:
            bare = cedarpy.is_authorized(cedar, bundle.without_approvals, ents)
            if bare.decision != cedarpy.Decision.Allow:  # approving it would allow what nothing permits
                policies = verdict(bundle, request, bare)
    if switches is not None:
        block = switches.blocking(request.tenant_id, request.workflow, request.tool, request.action,
                                  bundle.workflow(request.workflow).read_only_tools, request.at)
        if block is not None:
            return Verdict(Decision.DENY, (block.switch_id, *policies.policy_ids),
                           f"{block.reason} [policies alone: {policies.decision.value}]", policies.stop_ship)
    return policies


def verdict(bundle: Bundle, request: PolicyRequest, result: cedarpy.AuthzResult) -> Verdict:
    tool_action = f"{request.tool}.{request.action}"
    errors = list(result.diagnostics.errors)
    if errors:
        return Verdict(Decision.DENY, (), f"policy evaluation error, denied (fail closed): {errors[0]}")
    infos = [bundle.policies[p] for p in result.diagnostics.reasons if p in bundle.policies]
    ids = tuple(sorted(i.policy_id for i in infos))
    if result.decision == cedarpy.Decision.Allow:
        return Verdict(Decision.ALLOW, ids, f"{tool_action} permitted by {', '.join(ids)}")
    if not infos:
        return Verdict(Decision.DENY, (), f"no policy permits {tool_action}")
    hard = [i for i in infos if i.outcome != APPROVAL]
    if not hard:
        return Verdict(Decision.REQUIRE_APPROVAL, ids,
                       f"{tool_action} needs a human approval under {', '.join(ids)}")
    hard_ids = tuple(sorted(i.policy_id for i in hard))
    stop = sorted(set(hard_ids) & bundle.workflow(request.workflow).stop_ship)
    reason = f"{tool_action} denied by {', '.join(hard_ids)}"
    if stop:
        reason += f" (stop-ship condition of workflow {request.workflow}: {', '.join(stop)})"
    return Verdict(Decision.DENY, hard_ids, reason, stop_ship=bool(stop))
