"""Avro in the Confluent wire format: round trips for every record, clear errors for bad bytes."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from pydantic import BaseModel

from tests.core.samples import event, every_record
from warden.core.codec import AvroCodec
from warden.core.errors import DecodeError
from warden.core.registry import FileSchemaRegistry
from warden.core.wire import RECORD_NAMES, Wire


@pytest.fixture
def wire(tmp_path: Path) -> Wire:
    return Wire(AvroCodec(FileSchemaRegistry(tmp_path / "registry.json")))


@pytest.mark.parametrize("record", every_record(), ids=lambda r: getattr(r, "event_type", type(r).__name__))
def test_every_record_round_trips(wire: Wire, record: BaseModel) -> None:
    name = RECORD_NAMES[type(record)]
    data = wire.encode(record)
    assert data[0] == 0
    assert struct.unpack(">I", data[1:5])[0] == wire.codec.schema_id(name)
    assert wire.decode(data, name) == record


def test_unknown_schema_id_is_named(wire: Wire) -> None:
    with pytest.raises(DecodeError, match="unknown schema id 4242"):
        wire.decode(b"\x00" + struct.pack(">I", 4242) + b"\x02\x04")


def test_wrong_magic_byte_is_named(wire: Wire) -> None:
    with pytest.raises(DecodeError, match="found 0x7b"):
        wire.decode(b'{"event_id": "x"}')


def test_short_and_empty_messages(wire: Wire) -> None:
    with pytest.raises(DecodeError, match="3 bytes, shorter than the 5-byte"):
        wire.decode(b"\x00\x00\x01")
    with pytest.raises(DecodeError, match="no value"):
        wire.decode(None)


def test_truncated_avro_is_a_decode_error(wire: Wire) -> None:
    data = wire.encode(event("llm_call"))
    with pytest.raises(DecodeError, match=r"truncated or corrupt Avro body for warden\.AgentEvent"):
        wire.decode(data[:-6])


def test_trailing_bytes_are_a_decode_error(wire: Wire) -> None:
    data = wire.encode(event("llm_call"))
    with pytest.raises(DecodeError, match="trailing bytes"):
        wire.decode(data + b"\x00\x00")


def test_a_record_of_another_type_on_the_topic(wire: Wire) -> None:
    other = every_record()[-1]
    with pytest.raises(DecodeError, match=r"is warden\.DeadLetter, expected warden\.AgentEvent"):
        wire.decode(wire.encode(other), "warden.AgentEvent")
