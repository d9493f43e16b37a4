"""Type stub of the compiled accept path (_view_fast.pyx, built by `make setup`)."""

from typing import Any

class Accept:
    def __init__(self, *parts: Any) -> None: ...
    def __call__(self, record: Any) -> Any: ...
