"""Client configs come from settings, once: guarantees and the partitioner on every producer."""

from __future__ import annotations

from warden.core.partitioning import PARTITIONER
from warden.core.settings import WardenSettings
from warden.kafka import clients
from warden.kafka.clients import Fetch


def test_every_producer_is_idempotent_acks_all_and_murmur2() -> None:
    conf = clients.producer_config(WardenSettings(kafka_bootstrap_servers="h:1"), linger_ms=3)
    assert conf["enable.idempotence"] is True and conf["acks"] == "all"
    assert conf["partitioner"] == PARTITIONER and conf["linger.ms"] == 3 and conf["bootstrap.servers"] == "h:1"


def test_a_group_consumer_never_auto_commits_and_takes_session_timeouts_from_settings() -> None:
    settings = WardenSettings(kafka_bootstrap_servers="h:1", group_session_timeout_ms=9000,
                              kafka_extra_config={"ssl.ca.location": "/ca.pem"})
    conf = clients.group_consumer_config(settings, "g", Fetch(wait_ms=50, min_bytes=1024, partition_eof=True))
    assert conf["enable.auto.commit"] is False and conf["auto.offset.reset"] == "earliest"
    assert conf["session.timeout.ms"] == 9000 and conf["heartbeat.interval.ms"] == 1800
    assert conf["fetch.wait.max.ms"] == 50 and conf["fetch.min.bytes"] == 1024 and conf["enable.partition.eof"]
    assert conf["ssl.ca.location"] == "/ca.pem" and conf["group.id"] == "g"
    assert "fetch.min.bytes" not in clients.reader_config(settings, "r")
