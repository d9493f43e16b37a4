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


def test_on_the_embedded_durable_broker_producers_are_at_least_once_in_order() -> None:
    """Tansu's S3 engine can acknowledge an idempotent batch it never wrote (ADR 0014): there
    a retry is written again and consumers drop the copy by record id."""
    durable = clients.producer_config(WardenSettings(embedded_broker_port=9999, embedded_storage="s3"))
    assert durable["enable.idempotence"] is False and durable["acks"] == "all"
    assert durable["max.in.flight.requests.per.connection"] == 1
    memory = clients.producer_config(WardenSettings(embedded_broker_port=9999, embedded_storage="memory"))
    assert memory["enable.idempotence"] is True
    sdk_like = clients.producer_config(WardenSettings(embedded_broker_port=9999), linger_ms=50,
                                       **{"compression.type": "lz4"})
    assert sdk_like["enable.idempotence"] is False  # s3 is the embedded default


def test_on_the_embedded_durable_broker_no_consumer_fetches_more_often_than_the_floor() -> None:
    durable = WardenSettings(embedded_broker_port=9999, embedded_fetch_wait_ms=50)
    assert clients.group_consumer_config(durable, "g", Fetch(wait_ms=10))["fetch.wait.max.ms"] == 50
    assert clients.reader_config(durable, "r", Fetch(wait_ms=500))["fetch.wait.max.ms"] == 500
    assert "fetch.wait.max.ms" not in clients.reader_config(durable, "r", Fetch(wait_ms=None))  # librdkafka's 500
    kafka = WardenSettings(kafka_bootstrap_servers="h:1")
    assert clients.reader_config(kafka, "r", Fetch(wait_ms=10))["fetch.wait.max.ms"] == 10
    memory = WardenSettings(embedded_broker_port=9999, embedded_storage="memory")
    assert clients.group_consumer_config(memory, "g", Fetch(wait_ms=10))["fetch.wait.max.ms"] == 10


def test_by_default_a_durable_embedded_fetch_waits_250_ms() -> None:
    """Tansu lists and reads a fetch's partitions one after another and stops at the wait: at 50 ms the services
    reading many partitions (the alerter, the rollout-controller) fell tens of thousands of events behind at 250
    events/s, every probe's alert late; at 250 ms they kept up far better (ADR 0030). Fails on the old 50 ms."""
    durable = WardenSettings(embedded_broker_port=9999)
    assert durable.embedded_storage == "s3"
    assert clients.group_consumer_config(durable, "g", Fetch(wait_ms=10))["fetch.wait.max.ms"] == 250
    assert clients.group_consumer_config(durable, "g", Fetch(wait_ms=500))["fetch.wait.max.ms"] == 500
    kafka = WardenSettings(kafka_bootstrap_servers="h:1")  # Kafka answers a fetch when data arrives: no floor
    assert clients.group_consumer_config(kafka, "g", Fetch(wait_ms=10))["fetch.wait.max.ms"] == 10


def test_a_group_consumer_never_auto_commits_and_takes_session_timeouts_from_settings() -> None:
    settings = WardenSettings(kafka_bootstrap_servers="h:1", group_session_timeout_ms=9000,
                              kafka_extra_config={"ssl.ca.location": "/ca.pem"})
    conf = clients.group_consumer_config(settings, "g", Fetch(wait_ms=50, min_bytes=1024, partition_eof=True))
    assert conf["enable.auto.commit"] is False and conf["auto.offset.reset"] == "earliest"
    assert conf["session.timeout.ms"] == 9000 and conf["heartbeat.interval.ms"] == 1800
    assert conf["fetch.wait.max.ms"] == 50 and conf["fetch.min.bytes"] == 1024 and conf["enable.partition.eof"]
    assert conf["ssl.ca.location"] == "/ca.pem" and conf["group.id"] == "g"
    assert "fetch.min.bytes" not in clients.reader_config(settings, "r")


def test_processes_that_reach_the_embedded_broker_by_its_address_keep_its_guarantees() -> None:
    """`warden up`'s services and the demo's agents get KAFKA_BOOTSTRAP_SERVERS: they were idempotent on
    Tansu's S3 storage (a demo under load failed on ProducerFenced) until the stack said what the broker is."""
    from warden.stack import Stack

    stack = Stack(WardenSettings(embedded_broker_port=9999, embedded_storage="s3"))
    stack.bootstrap = "127.0.0.1:9999"
    for reached in (stack.client_settings(),
                    WardenSettings(kafka_bootstrap_servers=stack.bootstrap,
                                   broker_storage=stack._env()["WARDEN_BROKER_STORAGE"])):
        assert not reached.embedded and reached.tansu_storage == "s3"
        assert clients.producer_config(reached)["enable.idempotence"] is False
        assert clients.group_consumer_config(reached, "g", Fetch(wait_ms=10))["fetch.wait.max.ms"] == 250
    memory = Stack(WardenSettings(embedded_broker_port=9999, embedded_storage="memory"))
    assert clients.producer_config(memory.client_settings())["enable.idempotence"] is True
    kafka = Stack(WardenSettings(kafka_bootstrap_servers="h:1"))
    assert "WARDEN_BROKER_STORAGE" not in kafka._env()
    assert clients.producer_config(kafka.client_settings())["enable.idempotence"] is True
