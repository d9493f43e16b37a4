"""What a Warden process tells Prometheus: one registry per process, served at ``/metrics``.

prometheus-client does the exposition (HELP and TYPE on every family, the text format, the HTTP
server); this module only gathers Warden's figures into it. Figures live where they are counted
(a service's ``Counter``, the producer, the outbox), and each service registers a *source*, a
function returning metric families built at scrape time, with the one process-wide collector
here. That keeps counting free of locks on the hot path and lets a test process hold several
services at once without prometheus-client's duplicate-name check refusing the second.

The runtime's part (``RuntimeMetrics``) is the same for every stream service: records consumed,
processed, failed, skipped and dead-lettered, records produced per topic, consumer lag per
partition (sampled by the service's own loop thread, which owns its consumers, at most once a
second) and producer delivery failures.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from warden.core.settings import WardenSettings

if TYPE_CHECKING:
    from warden.runtime.app import App

log = logging.getLogger("warden.runtime.metrics")

Source = Callable[[], Iterable[Metric]]
# `warden up` and `warden run SERVICE` serve service i of this table on WARDEN_METRICS_PORT_BASE + i
# (9464 + i by default), so every process of one machine has a port of its own.
METRICS_PORT_OFFSETS: dict[str, int] = {
    "ledger-sink": 0, "policy-evaluator": 1, "risk-scorer": 2, "approvals": 3, "cost-aggregator": 4,
    "anomaly-alerter": 5, "notifier": 6, "rollout-controller": 7, "tool-proxy": 8, "otlp-ingest": 9,
}
SAMPLE_EVERY_S = 1.0
_LABELS = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class Exposition(Collector):
    """Every source of this process; families of one name from several sources are merged."""

    def __init__(self) -> None:
        self._sources: list[Source] = []
        self._lock = threading.Lock()

    def add(self, source: Source) -> None:
        with self._lock:
            self._sources.append(source)

    def remove(self, source: Source) -> None:
        with self._lock:
            if source in self._sources:
                self._sources.remove(source)

    def describe(self) -> Iterable[Metric]:
        return []  # names are known at scrape time only; nothing to check at registration

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            sources = list(self._sources)
        merged: dict[str, Metric] = {}
        for source in sources:
            for family in source():
                if family.name in merged:
                    merged[family.name].samples.extend(family.samples)
                else:
                    merged[family.name] = family
        return list(merged.values())


EXPOSITION = Exposition()
REGISTRY.register(EXPOSITION)  # next to prometheus-client's own process_*, python_gc_* and python_info


def render() -> tuple[bytes, str]:
    """The body and content type of a ``/metrics`` answer (for services with an HTTP app of their own)."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def metrics_port(settings: WardenSettings, service: str) -> int:
    """This process's metrics port: WARDEN_METRICS_PORT when set, else the base plus the service's offset."""
    if settings.metrics_port is not None:
        return settings.metrics_port
    if settings.metrics_port_base == 0:
        return 0
    return settings.metrics_port_base + METRICS_PORT_OFFSETS.get(service, len(METRICS_PORT_OFFSETS))


def serve(settings: WardenSettings, service: str) -> int | None:
    """Start the process's metrics server; a port in use is logged, never fatal (metrics guard nothing)."""
    port = metrics_port(settings, service)
    if port == 0:
        return None
    try:
        server, _ = start_http_server(port, settings.metrics_host, REGISTRY)
    except OSError as exc:
        log.error("%s: /metrics not served on %s:%d (%s); set WARDEN_METRICS_PORT or WARDEN_METRICS_PORT_BASE",
                  service, settings.metrics_host, port, exc)
        return None
    bound = int(server.server_address[1])
    log.info("%s: Prometheus metrics at http://%s:%d/metrics", service, settings.metrics_host, bound)
    return bound


# -- building families ------------------------------------------------------------------------------


def counter(name: str, documentation: str, labels: dict[str, str], value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def gauge(name: str, documentation: str, labels: dict[str, str], value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def split_key(key: str, label: str = "topic") -> tuple[str, dict[str, str]]:
    """A Counter key ``name``, ``name:value`` (the value of ``label``) or ``name:k="v",k2="v2"``."""
    name, _, rest = key.partition(":")
    if not rest:
        return name, {}
    found = dict(_LABELS.findall(rest))
    return name, found if found else {label: rest}


def counter_families(counts: dict[str, int], prefix: str, helps: dict[str, str], const: dict[str, str] | None = None,
                     label: str = "topic") -> list[Metric]:
    """``prefix + name + _total`` for every name in ``helps`` (0 when never counted), labelled from the keys."""
    const = const or {}
    families: dict[str, CounterMetricFamily] = {}
    samples: dict[str, list[tuple[dict[str, str], int]]] = {name: [] for name in helps}
    for key, value in sorted(counts.items()):
        name, labels = split_key(key, label)
        if name in samples:
            samples[name].append((labels, value))
    for name, rows in samples.items():
        names = sorted({k for labels, _ in rows for k in labels})
        family = CounterMetricFamily(f"{prefix}{name}", helps[name], labels=[*const, *names])
        for labels, value in rows or [({}, 0)]:
            family.add_metric([*const.values(), *(labels.get(k, "") for k in names)], value)
        families[name] = family
    return list(families.values())


# -- consumer lag -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lag:
    group: str
    topic: str
    partition: int
    records: int


def consumer_lag(consumer: Consumer, group: str, known: dict[tuple[str, int], int] | None = None) -> list[Lag]:
    """Records behind the partition's end, per assigned partition, from what librdkafka already holds
    (the high watermark of the last fetch and the consumer's position): no broker round trip.
    ``known``: next offsets the caller tracks itself, for a partition read nothing from yet."""
    try:
        assigned = consumer.assignment()
        positions = consumer.position(assigned) if assigned else []
    except KafkaException:
        return []
    out = []
    for tp in positions:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), cached=True)
        except KafkaException:
            continue
        if high < 0:
            continue  # nothing fetched from it yet
        position = tp.offset if tp.offset >= 0 else (known or {}).get((tp.topic, tp.partition), max(low, 0))
        out.append(Lag(group, tp.topic, tp.partition, max(0, high - position)))
    return out


def lag_family(service: str, lags: Iterable[Lag]) -> GaugeMetricFamily:
    family = GaugeMetricFamily("warden_consumer_lag", "Records between the consumer's position and the end of "
                               "the partition (high watermark of the last fetch), per partition read",
                               labels=["service", "group", "topic", "partition"])
    for lag in lags:
        family.add_metric([service, lag.group, lag.topic, str(lag.partition)], lag.records)
    return family


# -- the runtime's families -------------------------------------------------------------------------

# Counters every task keeps (warden.runtime.task), each to its family: (family, help, extra label).
RUNTIME_COUNTERS: dict[str, tuple[str, str]] = {
    "events": ("warden_records_consumed", "Records read from the service's main inputs"),
    "consumer_errors": ("warden_consumer_errors", "Error events the consumer returned instead of a record"),
    "idle_flushes": ("warden_idle_flushes", "States flushed because their partitions were quiet"),
}
SKIPPED = {"skipped_invalid": "invalid", "not_read": "not_read", "duplicates_skipped": "duplicate"}


class RuntimeMetrics:
    """The runtime's figures for one App; ``sample`` is the loop's hook, ``families`` its source."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.lags: list[Lag] = []
        self._sampled_at = 0.0
        self.extra: list[Source] = []  # the service's own families (the notifier's outbox, the sink's ledger)
        self._source = source_of(self.families)

    def publish(self) -> None:
        EXPOSITION.add(self._source)

    def withdraw(self) -> None:
        EXPOSITION.remove(self._source)

    def sample(self) -> None:
        """Called by the loop after each round: lag is read where the consumers live, once a second."""
        now = time.monotonic()
        if now - self._sampled_at < SAMPLE_EVERY_S:
            return
        self._sampled_at = now
        lags: list[Lag] = []
        for task in self.app.tasks:
            known = {w: o for slot in task.slots.values() for w, o in slot.positions.items()}
            lags += consumer_lag(task.consumer, task.group_id, known)
            if task.co_consumer is not None:
                lags += consumer_lag(task.co_consumer, f"{task.group_id}-copartitioned", known)
        self.lags = lags

    def families(self) -> list[Metric]:
        service = {"service": self.app.name}
        by_counter: dict[int, tuple[Counter[str], set[str], set[str]]] = {}
        for task in self.app.tasks:
            _, steps, failures = by_counter.setdefault(id(task.counters), (task.counters, set(), set()))
            steps.add(task.processor.step_counter)
            failures.add(task.processor.failure_counter)
        if not by_counter:
            by_counter[id(self.app.counters)] = (self.app.counters, set(), set())
        totals: Counter[str] = Counter()
        processed = failed = 0
        for counts, steps, failures in by_counter.values():
            snapshot = dict(counts)  # one C-level copy: the loop thread may be counting meanwhile
            processed += sum(snapshot.get(name, 0) for name in steps)
            failed += sum(snapshot.get(name, 0) for name in failures)
            totals.update({k: v for k, v in snapshot.items() if k not in steps and k not in failures})
        out: list[Metric] = [
            counter("warden_records_processed", "Records the service's processors stepped", service, processed),
            counter("warden_records_failed", "Records whose step raised and were skipped (isolated failures)",
                    service, failed),
        ]
        for key, (name, documentation) in RUNTIME_COUNTERS.items():
            out.append(counter(name, documentation, service, totals.pop(key, 0)))
        dead = CounterMetricFamily("warden_records_dead_lettered", "Records sent to the deadletter topic, by why "
                                   "(decode: not Avro of the schema; validate: breaks the contract)",
                                   labels=["service", "kind"])
        skipped = CounterMetricFamily("warden_records_skipped", "Records read and not stepped, by why (invalid: "
                                      "counted here and dead-lettered by the ledger-sink; not_read: an event type "
                                      "the service does not act on; duplicate: an id seen before)",
                                      labels=["service", "reason"])
        produced = CounterMetricFamily("warden_records_produced", "Records the service produced, by topic",
                                       labels=["service", "topic"])
        other = CounterMetricFamily("warden_service_events", "Other figures a service counts, by name (README: "
                                    "Metrics)", labels=["service", "event"])
        for kind in ("decode", "validate"):
            dead.add_metric([self.app.name, kind], totals.pop(f"dead_letters:{kind}", 0))
        for key, reason in SKIPPED.items():
            skipped.add_metric([self.app.name, reason], totals.pop(key, 0))
        for key, value in sorted(totals.items()):
            name, _, topic = key.partition(":")
            if name == "produced":
                produced.add_metric([self.app.name, topic], value)
            elif ":" not in key:
                other.add_metric([self.app.name, key], value)
        out += [dead, skipped, produced, other, lag_family(self.app.name, self.lags)]
        out += producer_families(self.app.name, self.app.producer.failures, self.app.producer.queued())
        for source in self.extra:
            out += source()
        return out


def producer_families(service: str, failures: int, queued: int | None = None) -> list[Metric]:
    out: list[Metric] = [counter("warden_producer_delivery_failures",
                                 "Records the broker did not acknowledge (timed out, too large, refused)",
                                 {"service": service}, failures)]
    if queued is not None:
        out.append(gauge("warden_producer_queue_records", "Records produced and not yet acknowledged by the broker",
                         {"service": service}, queued))
    return out


def source_of(build: Callable[[], Iterator[Metric] | list[Metric]]) -> Source:
    """A source that never breaks a scrape: a failing one is logged and left out of that answer."""

    def safe() -> Iterable[Metric]:
        try:
            return list(build())
        except Exception:  # a scrape must not fail because one figure could not be read
            log.exception("a metrics source failed")
            return []

    return safe


def expose(build: Callable[[], Any]) -> Source:
    source = source_of(build)
    EXPOSITION.add(source)
    return source
