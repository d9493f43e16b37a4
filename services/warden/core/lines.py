"""A named bad line of a JSON-lines file (replay's events, an eval dataset): reported, never fatal."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"
