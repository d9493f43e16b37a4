"""A dead letter keeps a redacted body; the original bytes only sealed under a configured key."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from tests.core.test_evolution import schema_id
from warden.core.catalog import SCHEMAS_DIR, load_schemas
from warden.core.codec import AvroCodec
from warden.core.errors import ConfigError
from warden.core.records import DeadLetter, DeadLetterKind
from warden.core.registry import FileSchemaRegistry
from warden.core.wire import validate
from warden.ledger_rows.dead_letters import protect, redact_bytes, sealer_from
from warden.ledger_rows.tables import TABLES_BY_NAME

SECRET_BODY = json.dumps({
    "to": "jöhn.müller@exämple.de", "iban": "DE89 3704 0044 0532 0130 00", "ssn": "123456789",
    "aws": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "amount_usd": 12.5,
}).encode()
LEAKS = (b"m\\u00fcller", b"3704 0044", b"123456789", b"wJalrXUtnFEMI")
KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def letter(raw: bytes = SECRET_BODY, reason: str = "params must be a JSON object") -> DeadLetter:
    return DeadLetter(dead_letter_id="dl-1", source_topic="agent.events", source_partition=0, source_offset=7,
                      source_key="run-1", error_kind=DeadLetterKind.VALIDATE, reason=reason, raw=raw,
                      failed_at=datetime(2026, 12, 1, tzinfo=UTC), service="ledger-sink")


def test_the_body_is_redacted_and_framing_bytes_survive() -> None:
    framed = b"\x00\x00\x00\x00\x07\xff\xfe" + SECRET_BODY + b"\x80"
    body, counts = redact_bytes(framed)
    assert body.startswith(b"\x00\x00\x00\x00\x07\xff\xfe") and body.endswith(b"\x80")
    assert not any(leak in body for leak in LEAKS), body
    assert counts == {"email": 1, "iban": 1, "national_id": 1, "secret": 1}
    assert b'"amount_usd": 12.5' in body


def test_without_a_key_only_the_redacted_body_is_kept() -> None:
    kept = protect(letter(reason="bad value 'jane@example.com'"), None)
    assert not any(leak in kept.raw for leak in LEAKS)
    assert (kept.raw_sealed, kept.raw_key_id) == (None, None)
    assert "jane@example.com" not in kept.reason


def test_with_a_key_the_original_is_sealed_and_opens_only_with_it() -> None:
    sealer = sealer_from({"a": SecretStr(KEY_A)}, None)
    assert sealer is not None
    kept = protect(letter(), sealer)
    assert kept.raw_key_id == "a" and kept.raw_sealed is not None
    assert not any(leak in kept.raw_sealed for leak in LEAKS)
    assert sealer.unseal(kept.raw_sealed, "a") == SECRET_BODY
    assert protect(kept, sealer) == kept  # idempotent: the sink protects letters again before storing
    rotated = sealer_from({"a": SecretStr(KEY_A), "b": SecretStr(KEY_B)}, "b")
    assert rotated is not None and rotated.unseal(kept.raw_sealed, "a") == SECRET_BODY
    with pytest.raises(ConfigError, match="'a', which is not among"):
        sealer_from({"b": SecretStr(KEY_B)}, None).unseal(kept.raw_sealed, "a")  # type: ignore[union-attr]
    wrong = sealer_from({"a": SecretStr(KEY_B)}, None)
    with pytest.raises(ConfigError, match="do not open"):
        wrong.unseal(kept.raw_sealed, "a")  # type: ignore[union-attr]


def test_a_key_that_is_not_a_fernet_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a Fernet key"):
        sealer_from({"a": SecretStr("hunter2")}, None)
    with pytest.raises(ConfigError, match="must name one of"):
        sealer_from({"a": SecretStr(KEY_A), "b": SecretStr(KEY_B)}, None)


def test_the_stored_row_is_redacted_even_when_the_producer_did_not() -> None:
    """A letter another service produced unredacted: the ledger row still keeps no secret."""
    row = TABLES_BY_NAME["dead_letters"].to_row(letter())
    stored = base64.b64decode(row["raw"])
    assert not any(leak in stored for leak in LEAKS)
    assert (row["redactions"], row["redaction_kinds"]) == (4, ["email", "iban", "national_id", "secret"])
    assert (row["raw_sealed"], row["raw_key_id"]) == ("", "")


OLD_FIELDS = ("raw_sealed", "raw_key_id")


def old_schemas() -> dict[str, dict[str, object]]:
    schema = json.loads((SCHEMAS_DIR / "dead_letter.avsc").read_text())
    schema["fields"] = [f for f in schema["fields"] if f["name"] not in OLD_FIELDS]
    return {"warden.DeadLetter": schema}


def test_dead_letter_schema_evolution_both_ways(tmp_path: object) -> None:
    from pathlib import Path

    registry = FileSchemaRegistry(Path(str(tmp_path)) / "registry.json")
    old, new = AvroCodec(registry, old_schemas()), AvroCodec(registry, load_schemas())
    name = "warden.DeadLetter"
    plain = protect(letter(), None)
    data = old.encode(name, {k: v for k, v in plain.to_avro().items() if k not in OLD_FIELDS})
    assert schema_id(data) == old.schema_id(name)
    assert validate(DeadLetter, new.decode(data, name)[1]) == plain  # new reader: defaults fill in
    sealed = protect(letter(), sealer_from({"a": SecretStr(KEY_A)}, None))
    _, record = old.decode(new.encode(name, sealed.to_avro()), name)
    assert not set(OLD_FIELDS) & set(record)  # old reader: the added fields are dropped
    assert validate(DeadLetter, record).raw == sealed.raw
