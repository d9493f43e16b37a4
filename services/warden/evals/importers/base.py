"""What every importer shares: the result (items, refusals, warnings) and the `warden` metadata block.

promptfoo, Inspect AI and Langfuse score the text a model wrote; Warden scores the state change a run
made in a sandbox world. None of the three has a place for the world (fixture) or the expected
change, so all three importers read them from the same block in the source's free-form metadata:

    metadata: {warden: {id, fixture, expect, tags, allow_extra}}

Anything a source says that Warden cannot score the same way (a rubric, a regex on the answer, a
multiple-choice target) refuses that item, naming where it is and why: an imported suite that
silently dropped half its checks would pass what the original fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pydantic

from warden.core.wire import describe
from warden.evals.dataset import Item

EXPECT_KEYS = frozenset({"state_change", "status", "forbidden_tools", "max_steps", "allow_extra"})
WARDEN_KEYS = frozenset({"id", "workflow", "fixture", "expect", "tags", "input"})
TEXT_KEY = "message"  # a source's plain-text input becomes {"message": text}
_SLUG = re.compile(r"[^a-z0-9]+")


class Refused(ValueError):
    """One source item cannot become a Warden item; the message says why."""


@dataclass(frozen=True)
class Refusal:
    where: str  # "line 12", "test 3 (refund over limit)"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class ImportResult:
    items: list[Item] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    warnings: list[Refusal] = field(default_factory=list)
    skipped: list[Refusal] = field(default_factory=list)  # not refused, deliberately left out (archived)


def jsonl_records(text: str) -> list[tuple[str, Any]]:
    """Each non-blank line's JSON value, named by line number; a line that does not parse is a Refused."""
    records: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append((f"line {number}", json.loads(line)))
            except ValueError as exc:
                records.append((f"line {number}", Refused(f"not JSON ({exc})")))
    return records


def slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:80]


def warden_block(metadata: Any, where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the `warden` block, the rest of the metadata); both empty when there is no metadata."""
    if metadata is None:
        return {}, {}
    if not isinstance(metadata, dict):
        raise Refused(f"metadata must be an object, got {type(metadata).__name__}")
    block = metadata.get("warden", {})
    if not isinstance(block, dict):
        raise Refused(f"metadata.warden must be an object, got {type(block).__name__}")
    unknown = sorted(set(block) - WARDEN_KEYS)
    if unknown:
        raise Refused(f"metadata.warden has unknown key(s) {', '.join(unknown)}; "
                      f"known: {', '.join(sorted(WARDEN_KEYS))}")
    return block, {k: v for k, v in metadata.items() if k != "warden"}


def expect_from(block: dict[str, Any]) -> dict[str, Any]:
    expect = block.get("expect", {})
    if not isinstance(expect, dict):
        raise Refused(f"metadata.warden.expect must be an object, got {type(expect).__name__}")
    unknown = sorted(set(expect) - EXPECT_KEYS)
    if unknown:
        raise Refused(f"metadata.warden.expect has unknown key(s) {', '.join(unknown)}; "
                      f"known: {', '.join(sorted(EXPECT_KEYS))}")
    return dict(expect)


def metadata_tags(rest: dict[str, Any], where: str, result: ImportResult) -> list[str]:
    """Scalar metadata becomes `key:value` tags (filterable, as in the source); the rest is reported."""
    tags = []
    for key, value in rest.items():
        if isinstance(value, bool):
            tags.append(f"{key}:{str(value).lower()}")
        elif isinstance(value, str | int | float):
            tags.append(f"{key}:{value}")
        else:
            result.warnings.append(Refusal(where, f"metadata.{key} is not a scalar and is not imported"))
    return tags


def text_input(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):
        return {TEXT_KEY: value}
    raise Refused(f"input must be an object or a text, got {type(value).__name__}")


def build(item_id: str, workflow: str, block: dict[str, Any], data: dict[str, Any], expect: dict[str, Any],
          tags: list[str]) -> dict[str, Any]:
    """One Warden dataset item; the workflow the caller chose must agree with the block's, if it names one."""
    named = block.get("workflow")
    if named is not None and named != workflow:
        raise Refused(f"metadata.warden.workflow is {named!r} but the import is for workflow {workflow!r}")
    overrides = block.get("input", {})
    if not isinstance(overrides, dict):
        raise Refused(f"metadata.warden.input must be an object, got {type(overrides).__name__}")
    fixture = block.get("fixture", {})
    if not isinstance(fixture, dict):
        raise Refused(f"metadata.warden.fixture must be an object of collections, got {type(fixture).__name__}")
    extra = block.get("tags", [])
    if not isinstance(extra, list) or not all(isinstance(t, str) for t in extra):
        raise Refused(f"metadata.warden.tags must be a list of texts, got {extra!r:.60}")
    ordered = list(dict.fromkeys([*extra, *tags]))  # first occurrence wins, order kept
    return {"id": item_id, "workflow": workflow, "input": {**data, **overrides}, "fixture": fixture, "expect": expect,
            "tags": ordered}


def accept(result: ImportResult, where: str, item: dict[str, Any], seen: set[str]) -> None:
    """Add one mapped item, refusing a second item with the same id (the first one stays)."""
    if not item["expect"]:
        result.refusals.append(Refusal(where, "states no outcome Warden can score (no mapped assertion, target or "
                                              "expected output, and no metadata.warden.expect); to expect no change "
                                              "at all, say expect: {state_change: {}}"))
        return
    if item["id"] in seen:
        result.refusals.append(Refusal(where, f"id {item['id']!r} is already used by an earlier item"))
        return
    try:
        valid = validate_item(item)
    except Refused as exc:
        result.refusals.append(Refusal(where, str(exc)))
        return
    seen.add(valid.id)
    result.items.append(valid)


def validate_item(item: dict[str, Any]) -> Item:
    """The mapped item against Warden's dataset contract (warden.evals.dataset.Item), or Refused with why."""
    try:
        return Item.model_validate(item)
    except pydantic.ValidationError as exc:
        raise Refused(f"not a valid Warden item: {describe(exc)}") from exc
