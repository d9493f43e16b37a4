"""A view of a typed message: only the fields one processor acts on, each validated exactly as the full
model validates it (docs/decisions/0020-acted-on-views.md).

A view is made from the full model, not written beside it: each field keeps the full model's annotation,
default and constraints (its FieldInfo, copied), and every field validator of the full model that names
the field is applied to it, so the two cannot drift apart (tests/core/test_views.py checks them field by
field). What a view does not carry is not checked by it: the fields left out, and the full model's
validators over several fields (a cache hit naming its entry, JSON texts of fields left out). Those
records are still refused by every reader of the full model (the ledger-sink dead-letters them).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable, Mapping
from copy import copy
from typing import Any, TypeVar

from pydantic import BaseModel, create_model, field_validator

from warden.core.errors import WardenError

M = TypeVar("M", bound=BaseModel)


def view_of(model: type[BaseModel], name: str, fields: Iterable[str], base: type[M],
            **extra: Any) -> type[M]:
    """A model named ``name`` on ``base`` with ``fields`` of ``model`` (annotation, default, constraints,
    field validators), plus ``extra`` fields given as create_model takes them (a body of another view)."""
    chosen = list(fields)
    missing = [f for f in chosen if f not in model.model_fields]
    if missing:
        raise WardenError(f"view {name}: {model.__name__} has no field {', '.join(missing)}")
    definitions: dict[str, Any] = {f: (model.model_fields[f].annotation, copy(model.model_fields[f])) for f in chosen}
    validators: dict[str, Any] = {}
    for key, decorator in model.__pydantic_decorators__.field_validators.items():
        kept = [f for f in decorator.info.fields if f in chosen]
        if kept:
            func = getattr(decorator.func, "__func__", decorator.func)  # the classmethod's function
            validators[key] = field_validator(*kept, mode=decorator.info.mode)(func)
    view = create_model(name, __base__=base, __validators__=validators, **definitions, **extra)
    view.__full_model__ = model  # type: ignore[attr-defined]  # what it is a view of (record ids, tests)
    return view


def full_model(view: type[BaseModel]) -> type[BaseModel] | None:
    """The model a view was made from; None for a model that is not a view."""
    found = getattr(view, "__full_model__", None)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


def fields_read(view: type[BaseModel]) -> Mapping[str, frozenset[str]]:
    """The fields a view reads, by the name of the model each part is a view of (the Avro record's name without
    its namespace): the view's own and those of the views its fields hold (a body view). What the codec needs
    to build only them (AvroCodec.decode_fields); made once per view."""
    found = _FIELDS_READ.get(view)
    if found is None:
        found = _FIELDS_READ[view] = {}
        pending = [view]
        while pending:
            part = pending.pop()
            model = full_model(part)
            if model is None or model.__name__ in found:
                continue
            found[model.__name__] = frozenset(part.model_fields)
            for info in part.model_fields.values():
                pending += [arg for arg in _leaves(info.annotation)
                            if isinstance(arg, type) and issubclass(arg, BaseModel)]
    return found


_FIELDS_READ: dict[type[BaseModel], dict[str, frozenset[str]]] = {}


def _leaves(annotation: Any) -> list[Any]:
    """The types a (union) annotation is made of."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [leaf for arg in typing.get_args(annotation) for leaf in _leaves(arg)]
    return [annotation]


# A view's compiled accept path, where one is built (warden/rollout/_view_fast.pyx, ADR 0029): the decoded record
# -> the instance validation would return, or None to validate it (pydantic's verdict and reasons are the contract).
ACCEPTS: dict[type[BaseModel], Callable[[Any], BaseModel | None]] = {}
