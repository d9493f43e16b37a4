"""Typed messages <-> bytes on a topic: the Avro codec plus the pydantic contract checks.

Everything that reads a topic goes through ``Wire.decode``, so "cannot decode" and
"decodes but breaks the contract" are told apart the same way in every service
(they become dead letters of kind ``decode`` and ``validate``). Whatever one record makes a
library raise (fastavro, pydantic, a validator) is one of those two errors: a hostile record is
a dead letter, never an exception that stops a service on its offset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel

from warden.core.catalog import MODELS
from warden.core.codec import AvroCodec
from warden.core.errors import DecodeError, ValidationError, WardenError
from warden.core.headers import Routing, millis
from warden.core.limits import InputLimits, limits
from warden.core.registry import FileSchemaRegistry, HttpSchemaRegistry, SchemaRegistry
from warden.core.settings import WardenSettings
from warden.core.views import ACCEPTS, fields_read

M = TypeVar("M", bound=BaseModel)
RECORD_NAMES: dict[type[BaseModel], str] = {model: name for name, model in MODELS.items()}


def describe(exc: pydantic.ValidationError) -> str:
    """One line per broken field, naming the field, the rule and the value found."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-")) or "record"
        found = err.get("input")
        message = err["msg"].removeprefix("Value error, ")
        # Our own validators already name the value they got.
        shown = "" if isinstance(found, dict) or ", got " in message else f" (got {found!r:.80})"
        parts.append(message if where == "record" else f"{where}: {message}{shown}")
    return "; ".join(parts)


def validate(model: type[M], data: Any) -> M:
    """pydantic validation with Warden's error type and a readable message; any exception a value
    makes a validator raise (RecursionError, OverflowError, ...) is a ValidationError too."""
    try:
        # model_validate's own call, without its keyword arguments (all None): a microsecond a record less
        return model.__pydantic_validator__.validate_python(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(f"invalid {model.__name__}: {describe(exc)}") from exc
    except WardenError:
        raise
    except Exception as exc:
        raise ValidationError(f"invalid {model.__name__}: validating it raised {type(exc).__name__}: "
                              f"{str(exc)[:200]}") from exc


class Wire:
    def __init__(self, codec: AvroCodec) -> None:
        self.codec = codec

    def encode(self, message: BaseModel) -> bytes:
        name = RECORD_NAMES[type(message)]
        to_avro = getattr(message, "to_avro", None)
        record = to_avro() if to_avro is not None else message.model_dump()
        return self.codec.encode(name, record)

    def decode(self, data: bytes | None, expected: str | None = None) -> BaseModel:
        """Raises DecodeError for bytes that are not a record, ValidationError for contract breaks."""
        name, record = self._record(data, expected)
        return self._typed(name, record)

    def _record(self, data: bytes | None, expected: str | None,
                wanted: Mapping[str, frozenset[str]] | None = None) -> tuple[str, dict[str, Any]]:
        """``wanted``: build only these fields (a view's, AvroCodec.decode_fields); the others are checked."""
        cap = limits().record_bytes
        if data is not None and len(data) > cap:
            raise DecodeError(f"message is {len(data)} bytes, over the limit of {cap} bytes "
                              f"({InputLimits.env('record_bytes')})")
        try:
            if wanted is not None:
                return self.codec.decode_fields(data, expected, wanted)
            return self.codec.decode(data, expected)
        except WardenError:
            raise
        except Exception as exc:  # the codec names what it expects; anything else is still this record's fault
            raise DecodeError(f"decoding the record raised {type(exc).__name__}: {str(exc)[:200]}") from exc

    @staticmethod
    def _typed(name: str, record: dict[str, Any]) -> BaseModel:
        model = MODELS.get(name)
        if model is None:
            raise DecodeError(f"record {name} has no model in this version of Warden; known: {sorted(MODELS)}")
        return validate(model, record)

    def decode_or_skip(self, data: bytes | None, expected: str, skipped: Counter[str],
                       event_types: frozenset[str] | None = None) -> BaseModel | None:
        """For processors: a bad record is counted and skipped, since the ledger-sink dead-letters it.

        ``event_types``: the event types the processor acts on; other events are skipped before the
        contract checks, which cost more than the Avro decode (the ledger-sink still checks them)."""
        try:
            name, record = self._record(data, expected)
            if event_types is not None and record.get("event_type") not in event_types:
                skipped["not_read"] += 1
                return None
            return self._typed(name, record)
        except (DecodeError, ValidationError):
            skipped["skipped_invalid"] += 1
            return None

    def decode_or_pass(self, data: bytes | None, expected: str, skipped: Counter[str],
                       event_types: frozenset[str], view: type[BaseModel] | None = None) -> BaseModel | Routing | None:
        """As ``decode_or_skip``, but an event of a type not in ``event_types`` comes back as its routing
        facts (a record that had no routing headers), for a processor whose clock needs every event.
        ``view``: the events read are validated as this view of the model (warden.core.views)."""
        try:
            name, record = self._record(data, expected, fields_read(view) if view is not None else None)
            if record.get("event_type") not in event_types:
                return self._routing(record, skipped)
            if view is not None:
                accept = ACCEPTS.get(view)
                if accept is not None and (accepted := accept(record)) is not None:
                    return accepted
                return validate(view, record)
            return self._typed(name, record)
        except (DecodeError, ValidationError):
            skipped["skipped_invalid"] += 1
            return None

    @staticmethod
    def _routing(record: dict[str, Any], skipped: Counter[str]) -> Routing | None:
        at, tenant, workflow = record.get("occurred_at"), record.get("tenant_id"), record.get("workflow")
        kind = record.get("event_type")
        if not isinstance(at, datetime) or not isinstance(kind, str):
            skipped["skipped_invalid"] += 1
            return None
        skipped["not_read"] += 1
        return Routing(kind, millis(at), tenant if isinstance(tenant, str) else None,
                       workflow if isinstance(workflow, str) else None)


def registry_for(settings: WardenSettings) -> FileSchemaRegistry | HttpSchemaRegistry:
    """The HTTP registry when one is configured, else the shared file."""
    if settings.schema_registry_url:
        auth = None
        if settings.schema_registry_auth is not None:
            user, _, password = settings.schema_registry_auth.get_secret_value().partition(":")
            auth = (user, password)
        return HttpSchemaRegistry(settings.schema_registry_url, auth)
    return FileSchemaRegistry(settings.registry_path)


def wire_for(settings: WardenSettings) -> Wire:
    """The codec every process uses, on the registry of ``registry_for``."""
    registry: SchemaRegistry = registry_for(settings)
    return Wire(AvroCodec(registry))
