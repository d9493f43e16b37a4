"""Moved to warden.runtime.producer (issue 14: one runtime owns the checked producer); kept as an alias
for the callers outside the stream services (approvals, the control CLI, the tool proxy)."""

from warden.runtime.producer import CheckedProducer

__all__ = ["CheckedProducer"]
