"""What each approver token may do: decide for some tenants, and (or not) set switches for all.

A token used to be all-powerful: any approver could decide any tenant's calls and stop every
tenant with a global kill switch. A grant now names the tenants an approver decides for and
whether they may set switches that reach beyond one tenant (global, workflow:<name> and
tool:<tool>[.<action>] stop every tenant). A refused attempt is an alert on the alerts topic,
so it lands in the ledger's `alerts` table and reaches on-call: an approver trying outside
their scope is either a mistake or a stolen token.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from warden.core.records import Alert, AlertKind, Severity

ALL = "*"
_REFUSALS = uuid.UUID("5b2e9c14-8d3a-4f70-a6e1-93c0d7b4f218")


class ApproverGrant(BaseModel):
    """The scoped form of one WARDEN_APPROVER_TOKENS entry. Fail closed: tenants must be listed,
    and switches beyond one tenant are off unless granted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr
    tenants: list[str] = Field(min_length=1, description='Tenants this approver decides for; ["*"]: every tenant.')
    global_switches: bool = Field(False, description="May set or lift global, workflow: and tool: switches.")

    def may_decide(self, tenant_id: str) -> bool:
        return ALL in self.tenants or tenant_id in self.tenants

    def switch_refusal(self, scope: str) -> str | None:
        """None if this approver may set or lift a switch on `scope`, else why not."""
        if scope.startswith("tenant:"):
            tenant = scope.removeprefix("tenant:")
            if self.may_decide(tenant):
                return None
            return f"tenant {tenant!r} is not one of this approver's tenants {self.tenants}"
        if self.global_switches:
            return None
        return f"{scope} reaches every tenant and this approver may not set global switches"


def grant_of(value: SecretStr | ApproverGrant) -> ApproverGrant:
    """A bare token (the original form) keeps the rights every token had: all tenants, all switches."""
    if isinstance(value, ApproverGrant):
        return value
    return ApproverGrant(token=value, tenants=[ALL], global_switches=True)


def identify(grants: dict[str, ApproverGrant], presented: str) -> str | None:
    """The identity whose token this is (compared in constant time), or None."""
    for identity, grant in grants.items():
        if hmac.compare_digest(presented.encode(), grant.token.get_secret_value().encode()):
            return identity
    return None


def refusal_alert(approver: str, action: str, target: str, tenant_id: str, reason: str, grant: ApproverGrant,
                  at: datetime) -> Alert:
    """One record per attempt (its id names who, what and when), for the ledger and on-call."""
    return Alert(
        alert_id=str(uuid.uuid5(_REFUSALS, f"{approver}|{action}|{target}|{at.isoformat()}")),
        kind=AlertKind.UNAUTHORIZED_ACTION, severity=Severity.TICKET, tenant_id=tenant_id, workflow=ALL,
        summary=f"approver {approver} tried to {action} {target} outside their scope and was refused: {reason}",
        first_seen=at, last_seen=at, count=1, rule="approver_scope", fingerprint=f"approver_scope:{approver}",
        labels={"approver": approver, "action": action, "target": target, "reason": reason,
                "tenants": ",".join(grant.tenants), "global_switches": str(grant.global_switches).lower()},
    )
