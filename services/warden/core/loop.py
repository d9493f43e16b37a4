"""The one loop every stream service runs: poll until told to stop, then always close."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_until(stop: threading.Event, poll_once: Callable[[], object], close: Callable[[], None]) -> None:
    """`close` runs however the loop ends (a stop, an exception), so clients leave their groups."""
    try:
        while not stop.is_set():
            poll_once()
    finally:
        close()
