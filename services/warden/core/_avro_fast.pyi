"""Type stub of the compiled decoder (_avro_fast.pyx, built by `make setup`)."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

class Fallback(Exception): ...

class Reader:
    def __init__(self, fields: tuple[Any, ...], fallback: Callable[[bytes, int], tuple[dict[str, Any], int]],
                 epoch: datetime, timedelta: type[timedelta]) -> None: ...
    def __call__(self, buf: bytes, pos: int) -> tuple[dict[str, Any], int]: ...
