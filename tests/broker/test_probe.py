"""The one line a CLI command prints when no broker listens: a sentence naming the address and
where it came from (it used to run the address into the rest: "...:44092 the embedded broker (is...")."""

from __future__ import annotations

import pytest

from warden.broker.probe import require_broker
from warden.broker.tansu import free_port
from warden.core.errors import BrokerUnavailableError
from warden.core.settings import WardenSettings


def test_no_embedded_broker_is_one_sentence_naming_the_address() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(BrokerUnavailableError) as raised:
        require_broker(WardenSettings(embedded_broker_port=port), timeout_s=0.5)
    assert str(raised.value).startswith(
        f"no Kafka broker is listening at 127.0.0.1:{port} (the embedded broker's address: is `warden up` "
        "running?): ")


def test_no_external_broker_names_the_setting() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    with pytest.raises(BrokerUnavailableError) as raised:
        require_broker(WardenSettings(kafka_bootstrap_servers=bootstrap), timeout_s=0.5)
    assert str(raised.value).startswith(f"no Kafka broker is listening at {bootstrap} (KAFKA_BOOTSTRAP_SERVERS): ")
