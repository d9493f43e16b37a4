"""A record's own id: the one the ledger lands it by (warden.ledger_rows.tables), so "seen before" here
and "already landed" there agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from warden.core.views import full_model
from warden.ledger_rows.tables import TABLES

_IDS: dict[type[BaseModel], Callable[[Any], str]] = {table.model: table.record_id for table in TABLES.values()}


def record_id(value: BaseModel, topic: str, partition: int, offset: int) -> str:
    """A record type no ledger table lands is named by its position, which a re-read keeps."""
    find = _IDS.get(type(value))
    if find is None and (model := full_model(type(value))) is not None and model in _IDS:
        find = _IDS[type(value)] = _IDS[model]  # a view: its model's id (remembered: asked on every record)
    return find(value) if find is not None else f"{topic}[{partition}]@{offset}"
