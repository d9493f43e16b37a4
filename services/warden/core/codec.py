"""Avro in the Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary.

Encoding registers the local schema once and reuses the header; decoding resolves the
writer's schema (found by id) against the local reader schema, which is what lets old
and new services read each other's records while schemas only add defaulted fields.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Mapping
from typing import Any

import fastavro
from fastavro.types import Schema

from warden.core.catalog import load_schemas
from warden.core.codec_fields import FieldsReader, fields_reader
from warden.core.errors import DecodeError, SchemaError
from warden.core.registry import SchemaRegistry

MAGIC = 0
HEADER = struct.Struct(">bI")
# fastavro names the stream it read from ("<_io.BytesIO object at 0x7f...>"): a reason that changed
# with every record would split one dead-letter reason into as many as there are records.
_STREAM = re.compile(r"<_io\.BytesIO object at 0x[0-9a-f]+>")


def _full_name(schema: dict[str, Any]) -> str:
    return f"{schema.get('namespace', '')}.{schema['name']}".lstrip(".")


class AvroCodec:
    def __init__(self, registry: SchemaRegistry, schemas: dict[str, dict[str, Any]] | None = None) -> None:
        self.registry = registry
        self._local = schemas if schemas is not None else load_schemas()
        self._parsed: dict[str, Schema] = {}
        self._headers: dict[str, bytes] = {}
        self._writers: dict[int, tuple[str, Schema]] = {}
        # Per writer schema id: the reader schema to resolve against, or None when the writer's schema is
        # the local one. fastavro makes that comparison itself, deeply, on every record (13 µs of a 22 µs
        # AgentEvent decode, benchmarks/decode.py); made once per id here, the answer is the same.
        self._resolve: dict[int, Schema | None] = {}
        self._local_ids: dict[str, int] = {}
        # Per (writer schema id, wanted fields): the decoder that builds only those (warden.core.codec_fields),
        # None where fastavro decodes whole; the wanted mapping is kept so its id stays its own.
        self._fields: dict[tuple[int, int], tuple[Mapping[str, frozenset[str]], FieldsReader | None]] = {}

    def _reader(self, name: str) -> Schema:
        if name not in self._parsed:
            if name not in self._local:
                raise SchemaError(f"no local schema for record {name!r}; known: {sorted(self._local)}")
            self._parsed[name] = fastavro.parse_schema(self._local[name])
        return self._parsed[name]

    def schema_id(self, name: str) -> int:
        if name not in self._local_ids:
            schema_id = self.registry.register(name, self._local[name])
            self._local_ids[name] = schema_id
            self._headers[name] = HEADER.pack(MAGIC, schema_id)
            self._writers[schema_id] = (name, self._reader(name))
        return self._local_ids[name]

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        if name not in self._headers:
            self.schema_id(name)
        out = io.BytesIO()
        out.write(self._headers[name])
        try:
            fastavro.schemaless_writer(out, self._reader(name), record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SchemaError(f"record does not fit schema {name}: {exc}") from exc
        return out.getvalue()

    def _writer(self, schema_id: int) -> tuple[str, Schema]:
        if schema_id not in self._writers:
            try:
                schema = self.registry.schema(schema_id)
            except SchemaError as exc:
                raise DecodeError(str(exc)) from exc
            # A shared registry can map an id to any schema, not only one of Warden's records.
            if not (isinstance(schema, dict) and schema.get("type") == "record" and "name" in schema):
                raise DecodeError(f"schema id {schema_id} is not an Avro record schema: {str(schema)[:80]}")
            try:
                parsed = fastavro.parse_schema(schema)
            except Exception as exc:  # fastavro's SchemaParseException, UnknownType, ...
                raise DecodeError(f"schema id {schema_id} is not a valid Avro schema: {exc}") from exc
            self._writers[schema_id] = (_full_name(schema), parsed)
        return self._writers[schema_id]

    def decode(self, data: bytes | None, expected: str | None = None) -> tuple[str, dict[str, Any]]:
        """Bytes -> (record name, Avro dict); every failure is a DecodeError naming what was found."""
        data, schema_id, name, writer = self._header(data, expected)
        reader = self._resolved(schema_id, name, writer)
        stream = io.BytesIO(data)
        stream.seek(HEADER.size)
        try:
            record = fastavro.schemaless_reader(stream, writer, reader, return_record_name=True)
        except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError, UnicodeError...
            raise self._corrupt(name, schema_id, exc) from exc
        self._check_end(name, schema_id, stream.tell(), len(data))
        if not isinstance(record, dict):
            raise DecodeError(f"schema id {schema_id} decoded to {type(record).__name__}, expected a record")
        return name, record

    def decode_fields(self, data: bytes | None, expected: str | None,
                      wanted: Mapping[str, frozenset[str]]) -> tuple[str, dict[str, Any]]:
        """``decode``, building of each record named in ``wanted`` (without namespace) only the fields listed:
        the same checks, the same values for those fields (warden.core.codec_fields). A writer schema that
        is not the local one, or that decoder does not handle, is decoded whole by fastavro."""
        data, schema_id, name, writer = self._header(data, expected)
        key = (schema_id, id(wanted))
        found = self._fields.get(key)
        if found is None:
            same = self._resolved(schema_id, name, writer) is None
            found = self._fields[key] = (wanted, fields_reader(writer, wanted) if same else None)
        read = found[1]
        if read is None:
            return self.decode(data, expected)
        try:
            record, end = read(data, HEADER.size)
        except Exception as exc:  # IndexError, UnicodeDecodeError, struct.error, OverflowError, ValueError
            raise self._corrupt(name, schema_id, exc) from exc
        self._check_end(name, schema_id, end, len(data))
        return name, record

    @staticmethod
    def _corrupt(name: str, schema_id: int, exc: Exception) -> DecodeError:
        return DecodeError(f"truncated or corrupt Avro body for {name} (schema id {schema_id}): "
                           f"{type(exc).__name__}: {_STREAM.sub('the body', str(exc))}")

    @staticmethod
    def _check_end(name: str, schema_id: int, end: int, size: int) -> None:
        if end > size:
            raise DecodeError(f"truncated or corrupt Avro body for {name} (schema id {schema_id}): "
                              f"it needs {end - size} bytes more than the record holds")
        if end != size:
            raise DecodeError(f"{size - end} trailing bytes after the Avro body of {name} (schema id {schema_id})")

    def _resolved(self, schema_id: int, name: str, writer: Schema) -> Schema | None:
        if schema_id not in self._resolve:
            local = self._reader(name) if name in self._local else writer
            self._resolve[schema_id] = None if local == writer else local
        return self._resolve[schema_id]

    def _header(self, data: bytes | None, expected: str | None) -> tuple[bytes, int, str, Schema]:
        """The record's bytes, its wire-format header's schema id, record name and writer schema, checked."""
        if data is None:
            raise DecodeError("message has no value (a tombstone or an empty record)")
        if len(data) < HEADER.size:
            raise DecodeError(f"message is {len(data)} bytes, shorter than the 5-byte wire-format header")
        if data[0] != MAGIC:
            raise DecodeError(f"expected magic byte 0 of the Confluent wire format, found 0x{data[0]:02x}")
        _, schema_id = HEADER.unpack_from(data)
        name, writer = self._writer(schema_id)
        if expected is not None and name != expected:
            raise DecodeError(f"schema id {schema_id} is {name}, expected {expected} on this topic")
        return data, schema_id, name, writer
