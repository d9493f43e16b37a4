"""The compiled field decoder against the generated Python reader over random small writer schemas (nested
records, unions holding records and named references, enums, every primitive, timestamp-millis) and bytes written
for them with edge values (booleans 2 and 255, NaN payloads and -0.0, longs past 64 bits, timestamps one past
datetime's range, negative or long lengths, bad UTF-8, surrogates, indexes out of range), then spoiled and cut:
the same record, compared with its types and float bits (== takes True for 1 and -0.0 for 0.0), and the same end,
or the same exception and message. It passed on the code it was written against: a guard, not a fix."""

from __future__ import annotations

import random
import struct
from datetime import datetime
from typing import Any

import fastavro
import pytest

from warden.core import _avro_fast, codec_fields

PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "string", "bytes"]
MILLIS = {"type": "long", "logicalType": "timestamp-millis"}
LONGS = [0, 1, -1, 63, 64, -65, 2**31, 2**63 - 1, -2**63, 2**64 + 5, 2**69]
TIMES = [0, -62135596800000, -62135596800001, 253402300799999, 253402300800000, 2**63 - 1]
FLOATS = [struct.pack("<f", -0.0), b"\x01\x00\x80\x7f", b"\x00\x00\xc0\xff", b"\xff\xff\xff\xff"]
DOUBLES = [struct.pack("<d", -0.0), b"\x01\x00\x00\x00\x00\x00\xf0\x7f", b"\xff" * 8]
TEXTS = [b"", b"abc", "\u00e9\u20ac\U0001f600".encode(), b"\xed\xa0\x80", b"\xff", b"\x00", b"a" * 300, b"\xc0\x80"]


def exact(value: Any) -> Any:
    """The value with every type and every float's bits in it."""
    if isinstance(value, float):
        return float, struct.pack("<d", value)
    if isinstance(value, dict):
        return dict, tuple((k, exact(v)) for k, v in value.items())
    if isinstance(value, tuple):
        return tuple, tuple(exact(v) for v in value)
    if isinstance(value, datetime):
        return datetime, value, value.tzinfo, value.fold
    return type(value), value


def outcome(read: codec_fields.FieldsReader, data: bytes, pos: int) -> Any:
    try:
        record, end = read(data, pos)
    except Exception as exc:
        return type(exc), str(exc)
    return exact(record), type(end), end


def zigzag(n: int) -> bytes:
    """A varint of n (past 64 bits: as many bytes as it takes, which readers refuse or wrap)."""
    z = (n << 1) ^ (n >> 63) if -2**63 <= n < 2**63 else (n << 1) & (2**70 - 1)
    out = bytearray()
    while True:
        low, z = z & 0x7F, z >> 7
        out.append(low | (0x80 if z else 0))
        if not z:
            return bytes(out)


class Schemas:
    def __init__(self, rng: random.Random) -> None:
        self.rng, self.n = rng, 0
        self.named: list[str] = []
        self.types: dict[str, dict[str, Any]] = {}

    def kind(self, depth: int) -> Any:
        r = self.rng.random()
        if depth > 2 or r < 0.5:
            if r < 0.05:
                return MILLIS
            if r < 0.1 and self.named:
                return self.rng.choice(self.named)
            return self.rng.choice(PRIMITIVES)
        if r < 0.65:
            self.n += 1
            symbols = [f"S{i}" for i in range(self.rng.randint(1, 4))]
            enum: dict[str, Any] = {"type": "enum", "name": f"E{self.n}", "symbols": symbols}
            self.named.append(enum["name"])
            self.types[enum["name"]] = enum
            return enum
        if r < 0.85:
            branches, seen = [], set()
            for _ in range(self.rng.randint(1, 4)):
                branch = self.kind(depth + 1)
                key = branch.get("name", "long") if isinstance(branch, dict) else str(branch)
                if isinstance(branch, list) or key in seen:
                    continue
                seen.add(key)
                branches.append(branch)
            return branches or ["null"]
        return self.record(depth + 1)

    def record(self, depth: int) -> dict[str, Any]:
        self.n += 1
        name = f"R{self.n}"
        made = {"type": "record", "name": name,
                "fields": [{"name": f"f{i}", "type": self.kind(depth)} for i in range(self.rng.randint(1, 4))]}
        self.named.append(name)  # after its fields: no recursive schema
        self.types[name] = made
        return made


def write(rng: random.Random, types: dict[str, Any], schema: Any, out: bytearray) -> None:
    """Bytes for one value of ``schema``, now and then not quite valid."""
    if isinstance(schema, str) and schema in types:
        schema = types[schema]
    if isinstance(schema, list):
        index = rng.randrange(len(schema)) if rng.random() < 0.9 else rng.choice([-1, len(schema), 2**40])
        out += zigzag(index)
        if 0 <= index < len(schema):
            write(rng, types, schema[index], out)
        return
    kind = schema.get("type") if isinstance(schema, dict) else schema
    if schema == MILLIS:
        out += zigzag(rng.choice([*TIMES, rng.randint(-10**14, 10**14)]))
    elif kind == "record":
        for f in schema["fields"]:
            write(rng, types, f["type"], out)
    elif kind == "enum":
        out += zigzag(rng.choice([0, len(schema["symbols"]) - 1, len(schema["symbols"]), -1]))
    elif kind in ("int", "long"):
        out += zigzag(rng.choice([*LONGS, rng.randint(-2**70, 2**70)]))
    elif kind == "boolean":
        out.append(rng.choice([0, 1, 2, 255]))
    elif kind == "float":
        out += rng.choice([*FLOATS, rng.randbytes(4)])
    elif kind == "double":
        out += rng.choice([*DOUBLES, rng.randbytes(8)])
    elif kind in ("string", "bytes"):
        text = rng.choice(TEXTS)
        out += zigzag(rng.choice([len(text), len(text), len(text) + 1, -1]))
        out += text


def one(seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    made = Schemas(rng)
    raw = made.record(0)
    try:
        parsed = fastavro.parse_schema(raw)
    except fastavro.schema.UnknownType:  # a name whose definition went with a union branch left out
        return {"ok": 0, "error": 0}
    assert isinstance(parsed, dict)
    wanted = {name: frozenset(f"f{i}" for i in range(4) if rng.random() < 0.5)
              for name, t in made.types.items() if t["type"] == "record" and rng.random() < 0.5}
    compiled = codec_fields._make(parsed, wanted)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codec_fields, "COMPILED", False)
        python = codec_fields._make(parsed, wanted)
    assert isinstance(compiled, _avro_fast.Reader) and python is not None
    datas: list[bytes] = [rng.randbytes(rng.randint(0, 40)) for _ in range(20)]
    for _ in range(20):
        written = bytearray(rng.choice([b"", b"\x00\x01"]))
        write(rng, made.types, raw, written)
        datas.append(bytes(written))
        for _ in range(3):
            spoiled = bytearray(written)
            if spoiled:
                spoiled[rng.randrange(len(spoiled))] = rng.getrandbits(8)
            datas.append(bytes(spoiled))
        datas.append(bytes(written[:rng.randint(0, len(written))]))
    seen = {"ok": 0, "error": 0}
    for data in datas:
        for pos in sorted({0, min(2, len(data)), len(data)}):
            got, expected = outcome(compiled, data, pos), outcome(python, data, pos)
            assert got == expected, f"seed {seed}, {raw}, {wanted}: {data!r} at {pos}"
            seen["ok" if len(got) == 3 else "error"] += 1
    return seen


@pytest.mark.parametrize("block", range(4))
def test_random_schemas_and_bytes_decode_alike(block: int) -> None:
    seen = [one(seed) for seed in range(block * 40, block * 40 + 40)]
    assert sum(s["ok"] for s in seen) > 500 and sum(s["error"] for s in seen) > 500
