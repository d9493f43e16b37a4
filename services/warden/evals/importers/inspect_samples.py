"""Inspect AI samples (JSON lines, or a JSON array, of `Sample` fields) to Warden items.

A Sample has input, target, choices, id, metadata, sandbox, files and setup (inspect_ai.dataset). Its
target is what a scorer compares the model's answer with; Warden compares the world's diff instead,
so a target is imported only when it *is* a state change (a JSON object in the text), and a sample
that relies on a container sandbox, files or a setup script has no equivalent in a fixture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from warden.core.errors import ConfigError
from warden.evals.importers.base import (
    ImportResult,
    Refusal,
    Refused,
    accept,
    build,
    expect_from,
    jsonl_records,
    metadata_tags,
    text_input,
    warden_block,
)

SAMPLE_FIELDS = frozenset({"input", "target", "choices", "id", "metadata", "sandbox", "files", "setup"})
ROLES = frozenset({"system", "user", "assistant", "tool"})


def _message(message: Any, n: int) -> dict[str, Any]:
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise Refused(f"input message #{n} must have a role of {', '.join(sorted(ROLES))}, got {message!r:.60}")
    content = message.get("content", "")
    if isinstance(content, list):  # content parts: only text has a meaning for a Warden agent's input
        kinds = {part.get("type") if isinstance(part, dict) else type(part).__name__ for part in content}
        if kinds - {"text"}:
            raise Refused(f"input message #{n} has {', '.join(sorted(map(str, kinds - {'text'})))} content; "
                          "only text is imported")
        content = "\n".join(str(part.get("text", "")) for part in content)
    if not isinstance(content, str):
        raise Refused(f"input message #{n} content must be text, got {type(content).__name__}")
    return {"role": message["role"], "content": content}


def _input(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        if not value:
            raise Refused("input is an empty list of messages")
        return {"messages": [_message(m, n) for n, m in enumerate(value, 1)]}
    if value is None:
        raise Refused("input is missing (Inspect requires it)")
    return text_input(value)


def _target(value: Any) -> dict[str, Any] | None:
    """The state change a target states, or None when there is no target."""
    if value is None or value in ("", []):
        return None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise Refused(f"target {value!r:.60} is text for a scorer to grade; Warden scores the world's diff: give "
                  "the expected state change as a JSON object text, or in metadata.warden.expect")


def _sample(record: Any, where: str, default_id: str, workflow: str, result: ImportResult) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise Refused(f"a sample must be a JSON object, got {type(record).__name__}")
    for key in sorted(set(record) - SAMPLE_FIELDS):
        result.warnings.append(Refusal(where, f"{key} is not a Sample field and is not imported"))
    for key in ("choices", "sandbox", "files", "setup"):
        if record.get(key):
            raise Refused(f"{key} has no equivalent in a Warden fixture (a JSON world of collections)")
    block, rest = warden_block(record.get("metadata"), where)
    expect = expect_from(block)
    change = _target(record.get("target"))
    if change is not None:
        if "state_change" in expect:
            raise Refused("both target and metadata.warden.expect.state_change state the change; keep one")
        expect["state_change"] = change
    raw_id = block.get("id", record.get("id"))
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, str | int)):
        raise Refused(f"id must be a text or an integer, got {raw_id!r:.40}")
    tags = ["source:inspect", *metadata_tags(rest, where, result)]
    return build(default_id if raw_id is None else str(raw_id), workflow, block, _input(record.get("input")),
                 expect, tags)


def _records(path: Path) -> list[tuple[str, Any]]:
    """(where, record) pairs: JSON lines ("line N"), or one JSON array ("sample N"); json_dataset reads both."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    if text.lstrip().startswith("["):
        try:
            array = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: not a JSON array of samples ({exc})") from exc
        if not isinstance(array, list):
            raise ConfigError(f"{path}: expected a JSON array of samples")
        return [(f"sample {n}", record) for n, record in enumerate(array, 1)]
    return jsonl_records(text)


def import_inspect(path: Path, workflow: str) -> ImportResult:
    result = ImportResult()
    seen: set[str] = set()
    for where, record in _records(path):
        try:
            if isinstance(record, Refused):
                raise record
            item = _sample(record, where, f"{path.stem}-{where.split()[1]}", workflow, result)
        except Refused as exc:
            result.refusals.append(Refusal(where, str(exc)))
            continue
        accept(result, where, item, seen)
    return result
