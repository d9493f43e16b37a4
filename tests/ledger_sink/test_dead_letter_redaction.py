"""A rejected record's secrets never rest unredacted: not on the deadletter topic, not in dead_letters;
the original bytes are kept only sealed under the configured key (real Tansu, real chDB)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from confluent_kafka import Consumer, Message
from cryptography.fernet import Fernet
from pydantic import SecretStr

from tests.ledger_sink.helpers import produce, sink_settings, wait_for
from warden.core.records import DeadLetter
from warden.core.settings import WardenSettings
from warden.core.topics import DEADLETTER
from warden.core.wire import wire_for
from warden.ledger.client import Ledger
from warden.ledger.verify import verify
from warden.ledger_rows.dead_letters import sealer_from
from warden.ledger_sink.service import LedgerSink

pytestmark = pytest.mark.integration

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----"
BODY = json.dumps({"not": "avro", "card": "4111 1111 1111 1111", "iban": "GB82WEST12345698765432", "key": PEM,
                   "aws": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}).encode()
LEAKS = (b"4111 1111", b"GB82WEST", b"MIIEowIBAAKCAQEA", b"wJalrXUtnFEMI")


def test_dead_letters_rest_redacted_and_the_original_only_sealed(topics: WardenSettings, ledger: Ledger) -> None:
    key = Fernet.generate_key().decode()
    settings = sink_settings(topics, ledger, dead_letter_keys={"dl-1": SecretStr(key)})
    produce(topics, [], [(b"run-secret", BODY)])
    db = ledger.database
    sink = LedgerSink(settings, ledger).start()
    try:
        wait_for(lambda: int(ledger.scalar(f"SELECT count() FROM {db}.dead_letters")) >= 1,
                 step=sink.poll_once, what="the dead letter")
    finally:
        sink.close()
    raw, sealed, key_id, redactions, kinds = ledger.rows(
        f"SELECT raw, raw_sealed, raw_key_id, redactions, redaction_kinds FROM {db}.dead_letters")[0]
    stored = base64.b64decode(raw)
    assert b'"not": "avro"' in stored and not any(leak in stored for leak in LEAKS), stored
    assert (redactions, sorted(kinds)) == (4, ["card", "iban", "secret"])
    sealer = sealer_from(settings.dead_letter_keys, None)
    assert sealer is not None and key_id == "dl-1"
    assert sealer.unseal(sealed.encode(), key_id) == BODY  # forensics, with the key
    assert verify(ledger, settings.chain_keys()).ok

    consumer = Consumer({**topics.kafka_config(), "group.id": f"dl-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([topics.topic(DEADLETTER)])
    letters: list[Message] = []
    try:
        wait_for(lambda: bool(letters), step=lambda: letters.extend(
            m for m in consumer.consume(10, 0.5) if not m.error()), what="the deadletter topic")
    finally:
        consumer.close()
    letter = wire_for(topics).decode(letters[0].value(), "warden.DeadLetter")
    assert isinstance(letter, DeadLetter)
    assert not any(leak in letter.raw for leak in LEAKS)  # the topic never held it unredacted
    assert letter.raw_key_id == "dl-1" and letter.raw_sealed is not None
