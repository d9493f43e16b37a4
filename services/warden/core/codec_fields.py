"""An Avro decoder, made once per writer schema, that builds only the fields a reader names.

Why hand-written: fastavro decodes a record whole, and its projection (a reader schema holding only the
wanted fields) goes through its schema-resolution path, which measured slower than the whole decode
(docs/decisions/0020-acted-on-views.md); the rollout-controller's read events spent a third of their
cost in fastavro building fields its view then ignores (docs/decisions/0024-projected-decode.md).

What it reads is what fastavro reads, byte for byte: every field is walked in the writer's order, the
fields left out are checked as fastavro checks them (UTF-8 of every string, every enum and union
index, the record's exact length) and only not turned into Python values, so a record decodes here
exactly when it decodes there, to the same values for the fields named. One difference, for bytes that
are no valid Avro: a varint longer than ten bytes (more than a 64-bit long) is refused here; fastavro
wraps it. Writer schemas this does not handle (arrays, maps, fixed, logical types other than
timestamp-millis, or a writer schema that differs from the reader's) get no decoder: the codec decodes
those records with fastavro, whole.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastavro.types import Schema

# buf, start -> (record, end)
FieldsReader = Callable[[bytes, int], tuple[dict[str, Any], int]]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MASK64 = (1 << 64) - 1


class Unsupported(Exception):
    """The writer schema holds a type this decoder does not build: fastavro decodes it."""


class BadVarint(ValueError):
    """More than ten bytes of varint: no Avro long."""


def _long(buf: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint of two bytes or more (the generated code reads one-byte varints inline)."""
    b = buf[pos]
    n = b & 0x7F
    shift = 7
    end = pos + 10
    pos += 1
    while b & 0x80:
        if pos >= end:
            raise BadVarint("a varint longer than ten bytes (no Avro long)")
        b = buf[pos]
        n |= (b & 0x7F) << shift
        shift += 7
        pos += 1
    n &= _MASK64
    return (n >> 1) ^ -(n & 1), pos


def _negative(n: int) -> ValueError:
    return ValueError(f"negative length {n} for a string or bytes")


class _Writer:
    """Python source for one writer schema, one statement list, locals v0, v1, ..."""

    def __init__(self, named: Mapping[str, Any], wanted: Mapping[str, frozenset[str]]) -> None:
        self.named, self.wanted = named, wanted
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.n = 0

    def var(self) -> str:
        self.n += 1
        return f"v{self.n}"

    def const(self, value: Any) -> str:
        name = f"c{len(self.consts)}"
        self.consts[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema in self.named:
            return self.named[schema]
        return schema

    def varint(self, depth: int, target: str) -> None:
        """Inline up to two bytes (a length, an index, a token count); longer ones in _long."""
        self.emit(depth, "b = buf[pos]")
        self.emit(depth, "if b < 128:")
        self.emit(depth + 1, "pos += 1")
        self.emit(depth + 1, f"{target} = (b >> 1) ^ -(b & 1)")
        self.emit(depth, "elif buf[pos + 1] < 128:")
        self.emit(depth + 1, "b = (b & 127) | (buf[pos + 1] << 7)")
        self.emit(depth + 1, "pos += 2")
        self.emit(depth + 1, f"{target} = (b >> 1) ^ -(b & 1)")
        self.emit(depth, "else:")
        self.emit(depth + 1, f"{target}, pos = _long(buf, pos)")

    def sized(self, depth: int, target: str | None, text: bool) -> None:
        """A string (decoded strictly as UTF-8, kept or not) or bytes (kept or not)."""
        self.varint(depth, "n")
        self.emit(depth, "if n < 0:")
        self.emit(depth + 1, "raise _negative(n)")
        self.emit(depth, "end = pos + n")
        if text:
            self.emit(depth, f"{target or '_'} = buf[pos:end].decode()")
        elif target is not None:
            self.emit(depth, f"{target} = buf[pos:end]")
        self.emit(depth, "pos = end")

    def value(self, depth: int, schema: Any, target: str | None) -> None:
        """Read one value of ``schema`` into ``target``; None: walk and check it, build nothing."""
        schema = self.resolve(schema)
        if isinstance(schema, list):
            self.union(depth, schema, target)
            return
        kind = schema.get("type") if isinstance(schema, dict) else schema
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if logical is not None and (logical != "timestamp-millis" or kind != "long"):
            raise Unsupported(f"logical type {logical!r}")
        if kind == "null":
            if target is not None:
                self.emit(depth, f"{target} = None")
        elif kind == "boolean":
            if target is not None:
                self.emit(depth, f"{target} = buf[pos] != 0")
            self.emit(depth, "pos += 1")  # skipped: the record's length is checked at its end
        elif kind in ("int", "long"):
            into = target or "_"
            self.varint(depth, into)
            if logical is not None and target is not None:
                # fastavro's epoch + timedelta(microseconds=ms * 1000), the same datetime; positional: half the cost
                self.emit(depth, f"{target} = _EPOCH + _timedelta(0, 0, 0, {target})")
        elif kind in ("float", "double"):
            size, fmt = (4, "<f") if kind == "float" else (8, "<d")
            unpack = self.const(struct.Struct(fmt).unpack_from)
            if target is not None:
                self.emit(depth, f"{target} = {unpack}(buf, pos)[0]")
            self.emit(depth, f"pos += {size}")  # skipped: the record's length is checked at its end
        elif kind in ("string", "bytes"):
            self.sized(depth, target, kind == "string")
        elif kind == "enum":
            symbols = self.const(tuple(schema["symbols"]))
            self.varint(depth, "i")
            # As fastavro indexes its symbol list: out of range raises, a negative index counts from the end.
            self.emit(depth, f"{target or '_'} = {symbols}[i]")
        elif kind == "record":
            self.record(depth, schema, target)
        else:
            raise Unsupported(f"type {kind!r}")

    def union(self, depth: int, branches: list[Any], target: str | None) -> None:
        self.varint(depth, "i")
        self.emit(depth, "if i < 0:")  # as fastavro indexes its branch list
        self.emit(depth + 1, f"i += {len(branches)}")
        for index, branch in enumerate(branches):
            self.emit(depth, f"{'if' if index == 0 else 'elif'} i == {index}:")
            resolved = self.resolve(branch)
            if isinstance(resolved, dict) and resolved.get("type") == "record" and target is not None:
                # fastavro's return_record_name=True: a record in a union comes back as (name, fields).
                inner = self.var()
                self.record(depth + 1, resolved, inner)
                self.emit(depth + 1, f"{target} = ({self.const(resolved['name'])}, {inner})")
            else:
                before = len(self.lines)
                self.value(depth + 1, resolved, target)
                if len(self.lines) == before:
                    self.emit(depth + 1, "pass")
        self.emit(depth, "else:")
        self.emit(depth + 1, f"raise IndexError(f'union index {{i}} of {len(branches)} branches')")

    def record(self, depth: int, schema: dict[str, Any], target: str | None) -> None:
        name = schema["name"]
        chosen = self.wanted.get(name.rpartition(".")[2]) if target is not None else frozenset()
        built: list[tuple[str, str]] = []
        for f in schema["fields"]:
            keep = target is not None and (chosen is None or f["name"] in chosen)
            into = self.var() if keep else None
            self.value(depth, f["type"], into)
            if into is not None:
                built.append((f["name"], into))
        if target is not None:
            self.emit(depth, f"{target} = {{{', '.join(f'{k!r}: {v}' for k, v in built)}}}")


# The compiled decoder's op codes (warden/core/_avro_fast.pyx holds the same numbers).
(OP_NULL, OP_BOOL, OP_LONG, OP_TIMESTAMP, OP_FLOAT, OP_DOUBLE, OP_STRING, OP_BYTES, OP_ENUM, OP_UNION,
 OP_RECORD) = range(11)
_SIMPLE = {"null": OP_NULL, "boolean": OP_BOOL, "int": OP_LONG, "long": OP_LONG, "float": OP_FLOAT,
           "double": OP_DOUBLE, "string": OP_STRING, "bytes": OP_BYTES}


def _program(named: Mapping[str, Any], wanted: Mapping[str, frozenset[str]], schema: Any) -> tuple[Any, ...]:
    """The compiled decoder's program for ``schema``: the same walk as _Writer's, as nested tuples. Records:
    (OP_RECORD, name, ((field, kept, op), ...)); kept is static (the wanted fields of that record, all of a
    record not named), and a record that is not being built builds none of its fields at run time."""
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        return (OP_UNION, tuple(_program(named, wanted, branch) for branch in schema))
    kind = schema.get("type") if isinstance(schema, dict) else schema
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if logical is not None:
        if logical != "timestamp-millis" or kind != "long":
            raise Unsupported(f"logical type {logical!r}")
        return (OP_TIMESTAMP,)
    if kind in _SIMPLE:
        return (_SIMPLE[kind],)
    if kind == "enum":
        return (OP_ENUM, tuple(schema["symbols"]))
    if kind == "record":
        chosen = wanted.get(schema["name"].rpartition(".")[2])
        return (OP_RECORD, schema["name"], tuple((f["name"], chosen is None or f["name"] in chosen,
                                                  _program(named, wanted, f["type"])) for f in schema["fields"]))
    raise Unsupported(f"type {kind!r}")


def _compiled(writer: dict[str, Any], wanted: Mapping[str, frozenset[str]], python: FieldsReader) -> FieldsReader:
    """The compiled reader over ``python`` (its fallback), or ``python`` where the extension is not built."""
    try:
        from warden.core import _avro_fast  # built by `make setup` (Cython); the stub is _avro_fast.pyi
    except ImportError:
        return python
    program = _program(writer.get("__named_schemas", {}), wanted, dict(writer))
    reader: FieldsReader = _avro_fast.Reader(program[2], python, _EPOCH, timedelta)
    return reader


def fields_reader(writer: Schema, wanted: Mapping[str, frozenset[str]]) -> FieldsReader | None:
    """A decoder of records written with ``writer`` (a fastavro-parsed record schema) that builds, of each
    record named in ``wanted`` (by its name without namespace), only the fields listed; records not named
    are built whole. None: the schema holds what this does not handle (fastavro decodes it). Made once per
    process for a schema and a set of fields (compiling one took 8-10 ms), whichever codec asks."""
    if not isinstance(writer, dict) or writer.get("type") != "record":
        return None
    key = (json.dumps(writer, sort_keys=True, default=str),
           tuple(sorted((name, tuple(sorted(fields))) for name, fields in wanted.items())))
    if key not in _MADE:
        _MADE[key] = _make(writer, wanted)
    return _MADE[key]


_MADE: dict[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], FieldsReader | None] = {}


def _make(writer: dict[str, Any], wanted: Mapping[str, frozenset[str]]) -> FieldsReader | None:
    named = writer.get("__named_schemas", {})
    source = _Writer(named, wanted)
    try:
        source.record(1, dict(writer), "out")
    except Unsupported:
        return None
    body = "\n".join(source.lines)
    code = f"def read(buf, pos):\n{body}\n    return out, pos\n"
    scope: dict[str, Any] = {"_long": _long, "_negative": _negative, "_EPOCH": _EPOCH, "_timedelta": timedelta,
                             **source.consts}
    exec(compile(code, f"<avro fields of {writer.get('name')}>", "exec"), scope)  # source made above, from a schema
    reader: FieldsReader = scope["read"]
    return _compiled(writer, wanted, reader) if COMPILED else reader


COMPILED = True  # tests set it False to hold the generated Python reader against the compiled one
