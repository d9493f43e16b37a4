"""Child-process hygiene: children die with their parent, so no broker or service is left behind."""

from __future__ import annotations

import contextlib
import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def child_preexec() -> None:
    """Runs in the child before exec: ask Linux to SIGTERM it when the parent dies, even by kill -9."""
    # Not Linux: no PDEATHSIG, but Warden's supervisor still terminates children on a normal stop.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
