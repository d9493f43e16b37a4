"""What a pure processor step returns: a record for a topic, with the key that orders it."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel


@dataclass(frozen=True)
class Output:
    topic: str  # base topic name (the shell adds the deployment's prefix)
    key: str
    record: BaseModel
