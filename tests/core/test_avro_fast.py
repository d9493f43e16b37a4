"""The compiled field decoder (warden/core/_avro_fast.pyx, ADR 0029) against the generated Python one it stands in
for: built by `make setup`, used, and the same record and end, or the same exception, for the same bytes. (Every
test of tests/core/test_codec_fields.py also runs on both.)"""

from __future__ import annotations

from pathlib import Path

import fastavro
import pytest

from tests.core.test_codec_fields import NAME, WANTED, events, spoiled
from warden.core import _avro_fast, codec_fields
from warden.core.catalog import load_schemas
from warden.core.codec import AvroCodec
from warden.core.codec_fields import fields_reader
from warden.core.events import AgentEvent
from warden.core.registry import FileSchemaRegistry
from warden.core.wire import Wire


def readers() -> tuple[codec_fields.FieldsReader, codec_fields.FieldsReader]:
    schema = fastavro.parse_schema(load_schemas()[NAME])
    compiled = fields_reader(schema, WANTED)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codec_fields, "COMPILED", False)
        patch.setattr(codec_fields, "_MADE", {})
        python = fields_reader(schema, WANTED)
    assert compiled is not None and python is not None
    return compiled, python


def test_the_compiled_reader_is_built_and_used() -> None:
    """`make setup` builds it (Cython); without it every read would silently take the slower Python reader."""
    compiled, python = readers()
    assert isinstance(compiled, _avro_fast.Reader) and not isinstance(python, _avro_fast.Reader)


def outcome(read: codec_fields.FieldsReader, data: bytes | bytearray) -> object:
    try:
        return read(data, 5)  # type: ignore[arg-type]  # a bytearray too: the Python reader takes it
    except Exception as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("one", events(), ids=lambda e: e.event_type.value)
def test_the_compiled_reader_returns_what_the_python_reader_returns_or_raises(tmp_path: Path, one: AgentEvent) -> None:
    """Over every truncation and 300 random byte changes: the same record and end, or the same exception."""
    compiled, python = readers()
    data = Wire(AvroCodec(FileSchemaRegistry(tmp_path / "registry.json"))).encode(one)
    for n, bad in enumerate([data, *spoiled(data, 20261203)]):
        assert outcome(compiled, bad) == outcome(python, bad), n
    assert outcome(compiled, bytearray(data)) == outcome(python, bytearray(data))  # not bytes: the Python reader
