"""approvals: humans decide the calls policy sent to them (HTTP API + CLI), with identity and rationale."""
