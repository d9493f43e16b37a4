"""The runtime's metrics: lag per partition from a real consumer, and how counters become families."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client.core import CounterMetricFamily

from tests.ledger_sink.helpers import wait_for
from warden.core.settings import WardenSettings
from warden.runtime.metrics import EXPOSITION, consumer_lag, counter_families, render, split_key


def test_lag_is_records_behind_the_end_per_partition(topics: WardenSettings) -> None:
    topic = topics.topic("agent.events")
    producer = Producer(topics.kafka_config())
    for i in range(10):
        producer.produce(topic, f"v{i}".encode(), partition=1)
    producer.produce(topic, b"x", partition=2)
    assert producer.flush(10) == 0
    consumer = Consumer({**topics.kafka_config(), "group.id": "lag-test", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 10})
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in parts])
    try:
        read: list[int] = []

        def all_read() -> bool:
            read.extend(m.partition() or 0 for m in consumer.consume(10, 0.2) if m.error() is None)
            return len(read) == 11

        wait_for(all_read, what="every record read")
        lags = {lag.partition: lag.records for lag in consumer_lag(consumer, "g")}
        assert lags[1] == 0 and lags[2] == 0
        consumer.seek(TopicPartition(topic, 1, 4))  # back to offset 4: six records behind the end
        wait_for(lambda: any(m.error() is None for m in consumer.consume(1, 0.2)), what="one record at offset 4")
        lags = {lag.partition: lag.records for lag in consumer_lag(consumer, "g")}
        assert lags[1] == 5  # read offset 4, position 5 of 10
    finally:
        consumer.close()


def test_counter_keys_become_labelled_families_with_help() -> None:
    assert split_key("produced:policy.decisions") == ("produced", {"topic": "policy.decisions"})
    assert split_key('dead_letters:kind="decode",topic="a.b"') == ("dead_letters", {"kind": "decode", "topic": "a.b"})
    families = counter_families({'spans:reason="x"': 2, "runs": 1}, "warden_t_",
                                {"spans": "spans by reason", "runs": "runs", "never": "never counted"})
    by_name = {f.name: f for f in families}
    assert [(s.labels, s.value) for s in by_name["warden_t_spans"].samples] == [({"reason": "x"}, 2)]
    assert [s.value for s in by_name["warden_t_never"].samples] == [0]  # a family exists before its first count


def test_sources_merge_into_one_family_per_name() -> None:
    def one(service: str) -> list[CounterMetricFamily]:
        family = CounterMetricFamily("warden_test_merge", "two sources, one family", labels=["service"])
        family.add_metric([service], 1)
        return [family]

    sources = [lambda: one("a"), lambda: one("b")]
    for source in sources:
        EXPOSITION.add(source)
    try:
        text = render()[0].decode()
    finally:
        for source in sources:
            EXPOSITION.remove(source)
    assert text.count("# HELP warden_test_merge_total") == 1
    assert 'warden_test_merge_total{service="a"} 1.0' in text and 'warden_test_merge_total{service="b"} 1.0' in text
