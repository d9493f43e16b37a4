"""Avro in the Confluent wire format: round trips for every record, and a DecodeError for every kind of bad bytes.

Every service dead-letters on DecodeError/ValidationError and nothing else, so any other
exception escaping ``Wire.decode`` would crash a consumer on one poisoned message.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from tests.core.samples import control, event, every_record, other_records
from warden.core.catalog import MODELS, load_schemas
from warden.core.codec import AvroCodec
from warden.core.errors import DecodeError, SchemaError, ValidationError
from warden.core.events import AgentEvent
from warden.core.registry import FileSchemaRegistry
from warden.core.wire import RECORD_NAMES, Wire

AGENT_EVENT = "warden.AgentEvent"


def label(record: BaseModel) -> str:
    event_type = getattr(record, "event_type", None)
    return f"AgentEvent.{event_type.value}" if event_type is not None else type(record).__name__


@pytest.fixture
def registry_path(tmp_path: Path) -> Path:
    return tmp_path / "registry.json"


@pytest.fixture
def wire(registry_path: Path) -> Wire:
    return Wire(AvroCodec(FileSchemaRegistry(registry_path)))


def test_every_record_type_is_sampled() -> None:
    """The round-trip cases below cover every record of the catalog and every AgentEvent body."""
    sampled = {RECORD_NAMES[type(r)] for r in [*every_record(), *other_records()]}
    assert sampled == set(MODELS)
    bodies = {type(r.body).__name__ for r in every_record() if isinstance(r, AgentEvent)}
    assert bodies == {"RunStarted", "LlmCall", "ToolCallRequested", "ToolCallCompleted", "RunCompleted"}


@pytest.mark.parametrize("record", [*every_record(), *other_records()], ids=label)
def test_every_record_round_trips(wire: Wire, registry_path: Path, record: BaseModel) -> None:
    name = RECORD_NAMES[type(record)]
    data = wire.encode(record)

    assert data[0] == 0, "Confluent magic byte"
    (schema_id,) = struct.unpack(">I", data[1:5])
    # The id on the wire is the registry's id for the local schema, as any other process would look it up.
    assert schema_id == FileSchemaRegistry(registry_path).register(name, load_schemas()[name])
    assert FileSchemaRegistry(registry_path).schema(schema_id) == load_schemas()[name]

    decoded = wire.decode(data, name)
    assert type(decoded) is type(record)
    assert decoded == record
    assert wire.decode(data) == record  # no expected record name: any known record is accepted


def test_a_second_process_decodes_what_the_first_encoded(registry_path: Path) -> None:
    """Writer schemas are found by id through the shared registry, not through the encoder's cache."""
    writer = Wire(AvroCodec(FileSchemaRegistry(registry_path)))
    reader = Wire(AvroCodec(FileSchemaRegistry(registry_path)))
    for record in every_record():
        assert reader.decode(writer.encode(record)) == record


def test_one_header_per_record_type(wire: Wire) -> None:
    ids = {struct.unpack(">I", wire.encode(r)[1:5])[0] for r in [*every_record(), control()]}
    assert len(ids) == len(MODELS)


def header(schema_id: int) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id)


def test_unknown_schema_id_is_named(wire: Wire) -> None:
    with pytest.raises(DecodeError, match=r"unknown schema id 4242\b"):
        wire.decode(header(4242) + b"\x02\x04")


@pytest.mark.parametrize(("data", "found"), [
    (b'{"event_id": "x", "step": 1}', "0x7b"),  # JSON where Avro was expected
    (b"\x01\x00\x00\x00\x01\x02", "0x01"),
    (b"\xff\xfe\xfd\xfc\xfb\xfa", "0xff"),
])
def test_wrong_magic_byte_is_named(wire: Wire, data: bytes, found: str) -> None:
    with pytest.raises(DecodeError, match=f"found {found}"):
        wire.decode(data)


@pytest.mark.parametrize("size", [0, 1, 4])
def test_too_short_messages(wire: Wire, size: int) -> None:
    with pytest.raises(DecodeError, match=f"{size} bytes, shorter than the 5-byte"):
        wire.decode(b"\x00" * size)


def test_a_missing_value_is_a_decode_error(wire: Wire) -> None:
    with pytest.raises(DecodeError, match="no value"):
        wire.decode(None)


@pytest.mark.parametrize("garbage", [
    b"\xff" * 32,  # a string length varint that never ends
    b"\x01",  # a negative string length
    b"\x7f" + b"x" * 10,  # a string length beyond the message
    bytes(range(256)),
])
def test_garbage_after_a_valid_header_is_a_decode_error(wire: Wire, garbage: bytes) -> None:
    schema_id = wire.codec.schema_id(AGENT_EVENT)
    with pytest.raises(DecodeError, match=rf"for warden\.AgentEvent \(schema id {schema_id}\)"):
        wire.decode(header(schema_id) + garbage, AGENT_EVENT)


@pytest.mark.parametrize("record", every_record(), ids=label)
def test_every_truncation_is_a_decode_error(wire: Wire, record: BaseModel) -> None:
    """Avro has no framing: a cut anywhere in the body must still be caught, not read as a shorter record."""
    data = wire.encode(record)
    for cut in range(1, len(data) - 5 + 1):
        with pytest.raises(DecodeError, match=r"truncated or corrupt Avro body|shorter than"):
            wire.decode(data[:-cut])


def test_a_truncated_body_gives_the_same_reason_every_time(wire: Wire) -> None:
    """Dead letters are grouped by reason: it must not name a per-record memory address."""
    data = wire.encode(event("llm_call"))[:-3]
    reasons = set()
    for _ in range(2):
        with pytest.raises(DecodeError) as caught:
            wire.decode(data)
        reasons.add(str(caught.value))
    assert len(reasons) == 1 and " at 0x" not in reasons.pop()


def test_trailing_bytes_are_a_decode_error(wire: Wire) -> None:
    data = wire.encode(event("llm_call"))
    with pytest.raises(DecodeError, match="2 trailing bytes"):
        wire.decode(data + b"\x00\x00")


@pytest.mark.parametrize("record", every_record()[5:], ids=label)
def test_a_record_of_another_type_on_the_agent_events_topic(wire: Wire, record: BaseModel) -> None:
    name = RECORD_NAMES[type(record)]
    with pytest.raises(DecodeError, match=rf"is {name}, expected warden\.AgentEvent on this topic"):
        wire.decode(wire.encode(record), AGENT_EVENT)


def test_a_record_type_this_process_does_not_know(registry_path: Path) -> None:
    """A newer producer's record type, found by id, is a DecodeError here, not a KeyError."""
    newer: dict[str, dict[str, Any]] = {
        **load_schemas(),
        "warden.Heartbeat": {"type": "record", "name": "Heartbeat", "namespace": "warden",
                             "fields": [{"name": "seq", "type": "long"}]},
    }
    data = AvroCodec(FileSchemaRegistry(registry_path), newer).encode("warden.Heartbeat", {"seq": 7})
    with pytest.raises(DecodeError, match=r"warden\.Heartbeat"):
        Wire(AvroCodec(FileSchemaRegistry(registry_path))).decode(data)


def test_a_record_that_does_not_fit_its_schema_is_refused_on_encode(wire: Wire) -> None:
    with pytest.raises(SchemaError, match=r"warden\.RiskScore"):
        wire.codec.encode("warden.RiskScore", {"event_id": "e", "run_id": "r", "score": "high"})


def test_decodes_but_breaks_the_contract_is_a_validation_error(wire: Wire) -> None:
    """Avro cannot say step >= 1; the model can, and the two failures stay distinguishable."""
    record = event("llm_call").to_avro()
    record["step"] = 0
    data = wire.codec.encode(AGENT_EVENT, record)
    with pytest.raises(ValidationError, match="step"):
        wire.decode(data, AGENT_EVENT)


def test_random_corruption_only_raises_decode_or_validation_errors(wire: Wire) -> None:
    """Seeded fuzzing of valid messages: flipped bytes, replaced and inserted bodies."""
    rng = random.Random(20261124)
    messages = [wire.encode(r) for r in [*every_record(), *other_records()]]
    outcomes = {"decoded": 0, "decode": 0, "validate": 0}
    for _ in range(3000):
        data = bytearray(rng.choice(messages))
        mode = rng.randrange(3)
        noise = rng.randbytes(rng.randint(0, 48))
        if mode == 0:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(5, len(data))] = rng.randrange(256)
        elif mode == 1:
            data = data[:5] + noise
        else:
            at = rng.randrange(5, len(data))
            data = data[:at] + noise + data[at:]
        try:
            wire.decode(bytes(data))
            outcomes["decoded"] += 1
        except DecodeError:
            outcomes["decode"] += 1
        except ValidationError:
            outcomes["validate"] += 1
    assert outcomes["decode"] > 2000, outcomes


class SharedRegistry:
    """A registry shared with other teams (distributed mode): ids can point at non-record schemas."""

    def __init__(self, schemas: dict[int, Any]) -> None:
        self.schemas = schemas

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        raise AssertionError("decoding never registers")

    def schema(self, schema_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self.schemas[schema_id]
        return found


@pytest.mark.parametrize("expected", [AGENT_EVENT, None])
@pytest.mark.parametrize("foreign", [
    "string",
    {"type": "array", "items": "long"},
    {"type": "nonsense"},
    {"type": "record", "name": "Broken", "fields": [{"name": "a", "type": "no_such_type"}]},
])
def test_an_id_of_a_non_record_schema_is_a_decode_error(foreign: Any, expected: str | None) -> None:
    wire = Wire(AvroCodec(SharedRegistry({7: foreign})))
    with pytest.raises(DecodeError, match="schema id 7"):
        wire.decode(header(7) + b"\x06abc", expected)
