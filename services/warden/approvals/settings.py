"""approvals' one settings object."""

from __future__ import annotations

from pydantic import Field, SecretStr

from warden.core.settings import WardenSettings


class ApprovalsSettings(WardenSettings):
    approvals_host: str = Field("127.0.0.1", description="Bind address; 0.0.0.0 only inside a container.")
    approvals_port: int = 8787
    approval_timeout_s: float = Field(900.0, gt=0, description="Undecided requests expire (call stays denied).")
    approver_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Approver identity -> their own bearer token, e.g. {"dana@acme.com": "..."}. '
                    "Anonymous or unknown tokens are refused.",
    )
