"""What `case.tools.call` raises: the agent sees Warden's refusal the way it would in production."""

from __future__ import annotations

from warden.core.errors import WardenError
from warden.core.records import PolicyDecision


class Denied(WardenError):
    """Warden did not allow the call: a policy deny, an approval no one gives in an eval, or params that
    break the tool's schema. The world is unchanged and the call counts as a violation.

    `code`: policy_deny | kill_switch | approval_required | schema_invalid; `decision`: the policy
    decision (None when the schema refused the call before policy was asked).
    """

    def __init__(self, tool: str, code: str, reason: str, decision: PolicyDecision | None = None,
                 errors: tuple[str, ...] = ()) -> None:
        super().__init__(f"{tool} refused ({code}): {reason}")
        self.tool, self.code, self.reason, self.decision, self.errors = tool, code, reason, decision, errors


class ToolFailed(WardenError):
    """The call was allowed but the sandbox tool failed (no such ticket, an output off its schema)."""

    def __init__(self, tool: str, code: str, reason: str) -> None:
        super().__init__(f"{tool} failed ({code}): {reason}")
        self.tool, self.code, self.reason = tool, code, reason


class ItemTimedOut(WardenError):
    """Raised in an agent's thread that ran past its item's timeout, at its next event or tool call:
    Python cannot stop a thread, so the harness stops listening to it instead."""
