"""A Langfuse dataset export to Warden items.

Langfuse dataset items (public API `GET /api/public/dataset-items`, the SDKs' DatasetItem) carry id,
status (ACTIVE | ARCHIVED), input, expectedOutput, metadata, sourceTraceId, sourceObservationId,
datasetId, datasetName, createdAt and updatedAt. Read here: the API's page (`{"data": [...]}`), a
JSON array of items, or JSON lines; camelCase or the Python SDK's snake_case keys. Archived items
are skipped, as Langfuse leaves them out of experiment runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from warden.core.errors import ConfigError
from warden.evals.importers.base import (
    EXPECT_KEYS,
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

ITEM_FIELDS = frozenset({"id", "status", "input", "expectedOutput", "metadata", "sourceTraceId",
                         "sourceObservationId", "datasetId", "datasetName", "createdAt", "updatedAt"})
_CAMEL = re.compile(r"_([a-z])")


def _camel(key: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), key)


def _expected(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict) and value and set(value) <= EXPECT_KEYS:
        return dict(value)
    shown = ", ".join(sorted(value)) if isinstance(value, dict) else type(value).__name__
    raise Refused(f"expectedOutput ({shown}) is not a Warden expectation (an object of "
                  f"{', '.join(sorted(EXPECT_KEYS))}); an output to grade as text cannot be scored on the "
                  "world's diff")


def _item(raw: Any, where: str, workflow: str, result: ImportResult) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        raise Refused(f"a dataset item must be a JSON object, got {type(raw).__name__}")
    record = {_camel(k): v for k, v in raw.items()}
    for key in sorted(set(record) - ITEM_FIELDS):
        result.warnings.append(Refusal(where, f"{key} is not a Langfuse dataset item field and is not imported"))
    status = str(record.get("status") or "ACTIVE").upper()
    if status == "ARCHIVED":
        result.skipped.append(Refusal(where, "archived in Langfuse"))
        return None
    if status != "ACTIVE":
        raise Refused(f"status {record.get('status')!r} is neither ACTIVE nor ARCHIVED")
    if not isinstance(record.get("id"), str) or not record["id"]:
        raise Refused(f"id must be a non-empty text, got {record.get('id')!r:.40}")
    if record.get("input") is None:
        raise Refused("input is empty")
    block, rest = warden_block(record.get("metadata"), where)
    expect = expect_from(block)
    stated = _expected(record.get("expectedOutput"))
    clash = sorted(set(stated) & set(expect))
    if clash:
        raise Refused(f"expectedOutput and metadata.warden.expect both set {', '.join(clash)}; keep one")
    tags = ["source:langfuse"]
    if record.get("datasetName"):
        tags.append(f"dataset:{record['datasetName']}")
    if record.get("sourceTraceId"):
        tags.append(f"langfuse_trace:{record['sourceTraceId']}")
    tags += metadata_tags(rest, where, result)
    return build(str(block.get("id", record["id"])), workflow, block, text_input(record["input"]),
                 {**stated, **expect}, tags)


def _records(path: Path) -> list[tuple[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    try:
        document = json.loads(text)
    except ValueError:
        document = None  # JSON lines (or broken JSON: each line is then refused with its error)
    if document is not None:
        if isinstance(document, dict) and isinstance(document.get("data"), list):
            document = document["data"]
        if isinstance(document, list):
            return [(f"item {n}", record) for n, record in enumerate(document, 1)]
        return [("line 1", document)]
    return jsonl_records(text)


def import_langfuse(path: Path, workflow: str) -> ImportResult:
    result = ImportResult()
    seen: set[str] = set()
    for where, record in _records(path):
        try:
            if isinstance(record, Refused):
                raise record
            item = _item(record, where, workflow, result)
        except Refused as exc:
            result.refusals.append(Refusal(where, str(exc)))
            continue
        if item is not None:
            accept(result, where, item, seen)
    return result
