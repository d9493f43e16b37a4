"""Is a broker listening? A plain TCP connect, so a CLI command can say so in one line within seconds.

librdkafka retries an absent broker for as long as its timeouts allow and logs every attempt to
stderr (a `warden kill` with no stack used to wait 15 s and print 71 lines); a command that needs
the stack asks this first and fails with one sentence naming the address instead.
"""

from __future__ import annotations

import socket

from warden.core.errors import BrokerUnavailableError
from warden.core.settings import WardenSettings


def addresses(bootstrap: str) -> list[tuple[str, int]]:
    """'host:port,PLAINTEXT://h2:9093,[::1]:9094' -> [(host, port), ...]."""
    found = []
    for entry in bootstrap.split(","):
        entry = entry.strip().rsplit("://", 1)[-1]
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise BrokerUnavailableError(f"bootstrap server {entry!r} is not host:port")
        found.append((host.strip("[]"), int(port)))
    return found


def require_broker(settings: WardenSettings, timeout_s: float = 1.5) -> None:
    """Returns when one bootstrap server accepts a connection; else one clear BrokerUnavailableError."""
    last: OSError | None = None
    for host, port in addresses(settings.bootstrap_servers):
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return
        except OSError as exc:
            last = exc
    where = ("the embedded broker's address: is `warden up` running?" if settings.embedded
             else "KAFKA_BOOTSTRAP_SERVERS")
    raise BrokerUnavailableError(f"no Kafka broker is listening at {settings.bootstrap_servers} ({where}): {last}")
