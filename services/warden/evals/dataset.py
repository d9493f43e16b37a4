"""The eval dataset format (issue 12): JSON lines, one item each, and its loader.

    {"id": "refund-001", "workflow": "refund_ticket",
     "input": {"ticket_id": "t-1", "text": "Please refund order o-1"},
     "fixture": {"tickets": {"t-1": {"status": "open"}}, "orders": {"o-1": {"amount_usd": 20}}},
     "expect": {"state_change": {"refunds": [{"order_id": "o-1", "amount_usd": 20}]},
                "status": "succeeded", "forbidden_tools": ["crm.delete_record"], "max_steps": 20,
                "allow_extra": false},
     "tags": ["refund", "golden"]}

`fixture` seeds the sandbox world, a JSON object of collections (each a list or an object);
`expect.state_change` is the world's diff the run must make (warden.evals.diff). Importers and
generators build `Item`s; the runner only ever reads a dataset through `load`. A bad line is
refused with its line number and what is wrong, and the good lines around it still load.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from warden.core.errors import ConfigError
from warden.core.events import RunStatus
from warden.core.lines import BadLine
from warden.core.wire import describe

TOOL_ACTION = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"


class DatasetError(ConfigError):
    """The dataset file cannot be read at all (missing, not UTF-8); bad lines are BadLine, not this."""


class Expect(BaseModel):
    """What the run must do. Absent keys are not judged, except state_change: no change expected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_change: dict[str, Any] = Field(default_factory=dict)
    status: RunStatus | None = None
    forbidden_tools: list[str] = Field(default_factory=list)
    max_steps: int | None = Field(None, ge=1)
    allow_extra: bool = False

    @field_validator("forbidden_tools")
    @classmethod
    def _qualified(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.match(TOOL_ACTION, v)]
        if bad:
            raise ValueError(f"forbidden_tools are tool.action names (e.g. crm.delete_record), got {bad!r}")
        return value


class Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    workflow: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)
    fixture: dict[str, list[Any] | dict[str, Any]] = Field(default_factory=dict)
    expect: Expect = Field(default_factory=Expect)
    tags: list[str] = Field(default_factory=list)

    def to_line(self) -> str:
        """The item as one dataset line (generators and importers write through this)."""
        return json.dumps(self.model_dump(mode="json", exclude_defaults=False), ensure_ascii=False,
                          separators=(",", ":"))

    def has_any_tag(self, tags: list[str]) -> bool:
        return not tags or any(t in self.tags for t in tags)


@dataclass
class Dataset:
    path: Path
    sha256: str  # of the file's bytes: which dataset a result came from
    items: list[Item] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # item id -> its line number
    bad: list[BadLine] = field(default_factory=list)

    def selected(self, tags: list[str]) -> list[Item]:
        """Items carrying any of `tags` (all items when none is given)."""
        return [item for item in self.items if item.has_any_tag(tags)]


def parse_line(text: str, number: int) -> Item | BadLine:
    try:
        data = json.loads(text)
    except ValueError as exc:
        return BadLine(number, f"not JSON: {exc}")
    if not isinstance(data, dict):
        return BadLine(number, f"expected a JSON object (a dataset item), got {type(data).__name__}")
    try:
        return Item.model_validate(data)
    except pydantic.ValidationError as exc:
        where = f" {data['id']!r}" if isinstance(data.get("id"), str) else ""
        return BadLine(number, f"invalid item{where}: {describe(exc)}")


def parse(text: str, path: Path = Path("<text>")) -> Dataset:
    dataset = Dataset(path, hashlib.sha256(text.encode()).hexdigest())
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = parse_line(line, number)
        if isinstance(parsed, BadLine):
            dataset.bad.append(parsed)
        elif parsed.id in dataset.lines:
            first = dataset.lines[parsed.id]
            dataset.bad.append(BadLine(number, f"duplicate id {parsed.id!r} (first on line {first})"))
        else:
            dataset.items.append(parsed)
            dataset.lines[parsed.id] = number
    return dataset


def load(path: Path) -> Dataset:
    """Every good item of the file, and every bad line with its number and reason."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read the dataset {path}: {exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"the dataset {path} is not UTF-8 text: {exc}") from exc
    return parse(text, path)


def write(path: Path, items: list[Item]) -> None:
    """One item a line, in the given order (reproducible bytes for a checked-in dataset)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(item.to_line() + "\n" for item in items), encoding="utf-8")
