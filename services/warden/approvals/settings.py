"""approvals' one settings object."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr

from warden.approvals.scopes import ApproverGrant, grant_of
from warden.core.settings import WardenSettings


class ApprovalsSettings(WardenSettings):
    """approvals_host and approvals_port are WardenSettings': the operator commands find the service by them."""

    approvals_max_body_bytes: int = Field(
        1 * 2**20, gt=0, description="Largest request body read (a decision or a rollout command is a few hundred "
                                     "bytes); larger is a 413 before it is read.")
    approval_timeout_s: float = Field(900.0, gt=0, description="Undecided requests expire (call stays denied).")
    approver_tokens: dict[str, SecretStr | ApproverGrant] = Field(
        default_factory=dict,
        description='Approver identity -> their own bearer token, e.g. {"dana@acme.com": "..."} (every tenant, '
                    'every switch), or a scoped grant, e.g. {"sam@globex.com": {"token": "...", "tenants": '
                    '["globex"], "global_switches": false}}. Anonymous or unknown tokens are refused.',
    )

    def grants(self) -> dict[str, ApproverGrant]:
        return {identity: grant_of(value) for identity, value in self.approver_tokens.items()}

    def approver_tokens_env(self) -> dict[str, Any]:
        """The entries as WARDEN_APPROVER_TOKENS spells them (secrets included), for a child process."""
        return {identity: value.get_secret_value() if isinstance(value, SecretStr)
                else {**value.model_dump(exclude={"token"}), "token": value.token.get_secret_value()}
                for identity, value in self.approver_tokens.items()}
