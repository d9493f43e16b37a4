"""Three outcomes from Cedar's two: allow, deny, require_approval.

Cedar answers allow or deny and names the policies that decided. A deny decided only by
forbid policies annotated @outcome("require_approval") becomes require_approval; any plain
forbid makes it a deny; no permit at all is a deny naming no policy. An evaluation error in
any policy denies the call (fail closed), because Cedar skips an erroring policy and a skipped
forbid would otherwise let the call through.

Before Cedar, the params pass the one strict check (warden.core.params.check_params, with the
bundle's tool schemas): a call whose params break its action's schema, or hold a number Cedar's
decimal cannot hold exactly, is denied as "invalid params" with the field errors. Without it a
missing, misnamed, nested or null amount made `context.params has amount_usd` false and the
refund rule silently did not fire (ADR 0012).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import cedarpy

from warden.core.params import CEDAR_MAX, CEDAR_SCALE, cedar_decimal, check_params
from warden.core.records import Decision
from warden.core.switches import Switches
from warden.policy.bundle import APPROVAL, Bundle


@dataclass(frozen=True)
class PolicyRequest:
    tenant_id: str
    workflow: str
    agent_id: str
    tool: str
    action: str
    resource: str | None
    params: dict[str, Any] | None  # None: the params were not a JSON object; numbers int, float or Decimal
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


_SPEND_MAX = CEDAR_MAX / CEDAR_SCALE


def decimal(value: float) -> dict[str, Any]:
    """Warden's own figures (the run's spend) as a Cedar decimal: rounded to 4 places, saturated at the
    largest decimal. Params never go through this: they are exact or refused (``cedar_value``)."""
    value = min(value, _SPEND_MAX) if math.isfinite(value) else _SPEND_MAX
    return {"__extn": {"fn": "decimal", "arg": f"{value:.4f}"}}


def cedar_value(value: Any) -> Any:
    """Params as Cedar sees them: every number a decimal with exactly its value. A number the
    decimal cannot hold raises ValueError (the params check refuses those calls before this)."""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, Decimal)):
        literal = cedar_decimal(value)
        if literal is None:
            raise ValueError(f"{value!s:.40} is not exactly a Cedar decimal")
        return {"__extn": {"fn": "decimal", "arg": literal}}
    if isinstance(value, dict):
        return {str(k): cedar_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [cedar_value(v) for v in value if v is not None]
    return str(value)


def cedar_request(bundle: Bundle, request: PolicyRequest) -> dict[str, Any]:
    """The request Cedar evaluates; its params must have passed ``check_params`` (see ``evaluate``)."""
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
        policies = Verdict(Decision.DENY, (), "invalid params: params must be a JSON object")
    elif ents is not None:
        policies = _checked(bundle, request, ents)
    if switches is not None:
        block = switches.blocking(request.tenant_id, request.workflow, request.tool, request.action,
                                  bundle.workflow(request.workflow).read_only_tools, request.at)
        if block is not None:
            return Verdict(Decision.DENY, (block.switch_id, *policies.policy_ids),
                           f"{block.reason} [policies alone: {policies.decision.value}]", policies.stop_ship)
    return policies


def _checked(bundle: Bundle, request: PolicyRequest, ents: cedarpy.Entities) -> Verdict:
    """The params check, then Cedar. A call outside the workflow's inventory is still shown to Cedar
    (without its params) when its params are invalid: out-of-inventory is the graver deny, and the
    one that trips stop-ship and pages."""
    errors = check_params(request.tool, request.action, request.params, bundle.tool_schemas)
    if not errors:
        return _cedar(bundle, request, ents)
    invalid = Verdict(Decision.DENY, (), "invalid params: " + "; ".join(str(e) for e in errors))
    if f"{request.tool}.{request.action}" in bundle.workflow(request.workflow).tools:
        return invalid
    outside = _cedar(bundle, replace(request, params={}), ents)
    if outside.decision != Decision.DENY:
        return invalid
    return replace(outside, reason=f"{outside.reason}; {invalid.reason}")


def _cedar(bundle: Bundle, request: PolicyRequest, ents: cedarpy.Entities) -> Verdict:
    try:
        cedar = cedar_request(bundle, request)
        result = cedarpy.is_authorized(cedar, bundle.policy_set, ents)
        policies = verdict(bundle, request, result)
        if policies.decision == Decision.REQUIRE_APPROVAL:
            bare = cedarpy.is_authorized(cedar, bundle.without_approvals, ents)
            if bare.decision != cedarpy.Decision.Allow:  # approving it would allow what nothing permits
                policies = verdict(bundle, request, bare)
    except Exception as exc:  # a value Cedar cannot take (cedarpy raises on some): fail closed
        return Verdict(Decision.DENY, (), f"policy evaluation error, denied (fail closed): "
                                          f"{type(exc).__name__}: {str(exc)[:200]}")
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
