"""The notifier shell: every record on the alerts topic, whoever produced it, to on-call.

Two halves that never wait on each other. The reader (a sink on the runtime) puts each alert's
deliveries in the outbox (durable, at every checkpoint: after each batch) and only then are the
topic offsets committed. One worker thread per receiver
posts that receiver's entries in order, with exponential backoff on failure; a receiver
that is down or slow holds up only its own entries, never the topic or another receiver. An entry
the receiver refuses for good (a permanent 4xx) is parked with the reason and reported to the
ledger as a dead letter, and the entries behind it go on. The Alertmanager worker also re-posts
what is firing (warden.notifier.alertmanager).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from warden.core import topics
from warden.core.errors import DeliveryError
from warden.core.output import Output
from warden.core.records import Alert, DeadLetter, DeadLetterKind
from warden.core.wire import wire_for
from warden.kafka import clients
from warden.kafka.clients import Fetch
from warden.ledger_rows.dead_letters import protect, sealer_from
from warden.notifier import alertmanager
from warden.notifier.outbox import Entry, Outbox
from warden.notifier.processor import (
    Delivery,
    Receiver,
    ReceiverKind,
    backoff_s,
    deliveries,
    permanent,
    receivers,
)
from warden.notifier.settings import NotifierSettings
from warden.runtime.app import App
from warden.runtime.processor import BaseProcessor, Clock, Input, Record, Scope

log = logging.getLogger("warden.notifier")
SERVICE = "notifier"


class Reporter:
    """Dead letters for parked deliveries, on a producer of its own (the loop's producer's failures are
    the loop's): the ledger shows what a receiver refused, and why."""

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self.wire = wire_for(settings)
        self.sealer = sealer_from(settings.dead_letter_keys, settings.dead_letter_key_id)
        self.producer = clients.producer(settings, linger_ms=0)
        self._lock = threading.Lock()

    def letter(self, entry: Entry) -> DeadLetter:
        digest = hashlib.sha256(f"notifier|{entry.receiver}|{entry.record_id}".encode()).hexdigest()
        letter = DeadLetter(
            dead_letter_id=digest[:32], source_topic=self.settings.topic(topics.ALERTS),
            source_partition=entry.source_partition, source_offset=entry.source_offset, source_key=entry.record_id,
            error_kind=DeadLetterKind.VALIDATE, reason=f"parked: {entry.parked_reason or 'refused'}"[:2000],
            raw=entry.payload.encode(), failed_at=datetime.now(UTC), service=SERVICE)
        return protect(letter, self.sealer)

    def report(self, entries: list[Entry]) -> bool:
        """True once the broker has every letter (their ids are stable: a second report lands once)."""
        with self._lock:
            for entry in entries:
                self.producer.produce(self.settings.topic(topics.DEADLETTER), self.wire.encode(self.letter(entry)),
                                      key=entry.record_id.encode())
            try:
                self.producer.flush_or_raise(10, f"dead letters of {len(entries)} parked notifications")
            except DeliveryError as exc:
                self.producer.forget_failures()
                log.warning("parked notifications not reported to the ledger yet, will retry: %s", exc)
                return False
        return True

    def close(self) -> None:
        self.producer.close(5)


class ReceiverWorker:
    def __init__(self, receiver: Receiver, outbox: Outbox, settings: NotifierSettings,
                 reporter: Reporter | None = None) -> None:
        self.receiver = receiver
        self.outbox = outbox
        self.settings = settings
        self.reporter = reporter
        self.wake = threading.Event()
        self.counters: Counter[str] = Counter()
        self.client = httpx.Client(timeout=settings.notify_timeout_s)
        self.thread = threading.Thread(target=self._loop, name=f"notify-{receiver.name}", daemon=True)
        self._stop = threading.Event()
        self._reposted_at = 0.0  # the first round re-posts what was firing before a restart
        self._reported_at = 0.0

    def start(self) -> ReceiverWorker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        self.thread.join(self.settings.notify_timeout_s + 5)
        self.client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.report_parked()
            entry = self.outbox.head(self.receiver.name)
            wait = 1.0 if entry is None else entry.next_at - time.time()
            if wait > 0:
                if self.receiver.kind == ReceiverKind.ALERTMANAGER and self.repost_due():
                    self.repost()
                    continue
                self.wake.wait(min(wait, 1.0))  # woken early by new entries or a stop
                self.wake.clear()
                continue
            assert entry is not None
            self.send(entry)

    def body(self, entry: Entry) -> bytes:
        if self.receiver.kind == ReceiverKind.PAGERDUTY and self.receiver.routing_key is not None:
            data = json.loads(entry.payload)
            data["routing_key"] = self.receiver.routing_key.get_secret_value()
            return json.dumps(data).encode()
        return entry.payload.encode()

    def _alertmanager_post(self, entry: Entry) -> tuple[bytes, dict[str, Any]]:
        """The post for one alert record, given what fires behind its labels now; and what it changes."""
        alert = Alert.model_validate_json(entry.payload)
        key = alertmanager.identity_key(alert)
        members = {alert_id: Alert.model_validate_json(text)
                   for _, alert_id, text, _ in self.outbox.firing(self.receiver.name, key)}
        post = alertmanager.transition(members, alert, datetime.now(UTC), self.settings.alertmanager_generator_url)
        change = ({"firing": (key, alert.alert_id, entry.payload)} if alert.status == "firing"
                  else {"resolved": (key, alert.alert_id)})
        return json.dumps([post]).encode(), change

    def send(self, entry: Entry) -> bool:
        error: str
        change: dict[str, Any] = {}
        try:
            if self.receiver.kind == ReceiverKind.ALERTMANAGER:
                content, change = self._alertmanager_post(entry)
            else:
                content = self.body(entry)
        except ValueError as exc:  # not an alert record (an outbox entry written in an older format)
            self.park(entry, f"not an alert record Warden can post to {self.receiver.name}: {exc}", "unreadable")
            return False
        try:
            response = self.client.post(self.receiver.url.get_secret_value(), content=content,
                                        headers={"Content-Type": "application/json"})
            if 200 <= response.status_code < 300:
                self.outbox.delivered(entry.seq, time.time(), **change)
                self.counters["delivered"] += 1
                if entry.attempts:
                    log.info("%s: delivered %s after %d failed attempt(s)", self.receiver.name, entry.record_id,
                             entry.attempts)
                return True
            error = f"HTTP {response.status_code}: {response.text[:300]}"
            if permanent(response.status_code):
                self.park(entry, f"{self.receiver.name} refused it for good: {error}", str(response.status_code))
                return False
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delay = backoff_s(entry.attempts + 1, self.settings.notify_retry_base_s, self.settings.notify_retry_max_s)
        self.outbox.failed(entry.seq, time.time() + delay, error)
        self.counters["failed_attempts"] += 1
        level = logging.ERROR if entry.attempts + 1 >= 5 else logging.WARNING
        log.log(level, "%s: delivery of %s failed (attempt %d, retry in %.1f s; %d waiting): %s",
                self.receiver.name, entry.record_id, entry.attempts + 1, delay,
                self.outbox.pending(self.receiver.name), error)
        return False

    def park(self, entry: Entry, reason: str, status: str) -> None:
        """Out of the queue with the reason, so the alerts behind it flow on; then into the ledger."""
        self.outbox.park(entry.seq, time.time(), reason)
        self.counters["parked"] += 1
        self.counters[f"parked:{status}"] += 1
        log.error("%s: %s parked (the alerts behind it go on): %s", self.receiver.name, entry.record_id, reason)
        self._reported_at = 0.0  # report it now

    def report_parked(self) -> None:
        if self.reporter is None or time.monotonic() - self._reported_at < 5.0:
            return
        self._reported_at = time.monotonic()
        entries = self.outbox.unreported(self.receiver.name)
        if entries and self.reporter.report(entries):
            self.outbox.reported([e.seq for e in entries], time.time())

    def repost_due(self) -> bool:
        return time.monotonic() - self._reposted_at >= self.settings.alertmanager_repost_s

    def repost(self) -> None:
        """Every label set still firing, again, so Alertmanager keeps it active; expired ones resolved."""
        self._reposted_at = time.monotonic()
        rows = self.outbox.firing(self.receiver.name)
        if not rows:
            return
        items = [alertmanager.Firing(key, Alert.model_validate_json(text), refreshed)
                 for key, _, text, refreshed in rows]
        bodies, expired = alertmanager.reposts(items, time.time(), self.settings.alertmanager_firing_ttl_s,
                                               self.settings.alertmanager_generator_url)
        try:
            response = self.client.post(self.receiver.url.get_secret_value(), content=json.dumps(bodies).encode(),
                                        headers={"Content-Type": "application/json"})
            ok, error = 200 <= response.status_code < 300, f"HTTP {response.status_code}: {response.text[:300]}"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            self.counters["repost_failures"] += 1
            log.warning("%s: re-posting %d firing alerts failed (next try in %.0f s): %s", self.receiver.name,
                        len(bodies), self.settings.alertmanager_repost_s, error)
            return
        self.counters["reposts"] += len(bodies)
        if expired:
            self.outbox.expire(self.receiver.name, [(f.key, f.alert.alert_id) for f in expired])
            log.info("%s: %d alerts with no record for %.0f s posted resolved", self.receiver.name, len(expired),
                     self.settings.alertmanager_firing_ttl_s)


class NotifierProcessor(BaseProcessor[list[Delivery]]):
    """A sink: an alert's deliveries are owed (the state) until the checkpoint writes them to the outbox."""

    name = "notifier"
    scope = Scope.WHOLE
    durable = False  # the outbox is the state; offsets are committed once it holds what was read
    checkpoint_every_s = 0.0
    seen_capacity = 0  # the outbox's key (record id, receiver) drops what the topic hands over twice
    poll_timeout_s = 0.1
    fetch = Fetch(wait_ms=10)  # Tansu answers a fetch only when its max wait is up

    def __init__(self, settings: NotifierSettings, outbox: Outbox, workers: dict[str, ReceiverWorker],
                 counters: Counter[str]) -> None:
        self.settings = settings
        self.receivers = [w.receiver for w in workers.values()]
        self.outbox = outbox
        self.workers = workers
        self.counters = counters
        self.inputs = (Input(topics.ALERTS, "warden.Alert"),)
        self.batch_max_rows = settings.batch_max_rows
        self._last_prune = 0.0

    def initial(self, partition: int) -> list[Delivery]:
        return []

    def step(self, state: list[Delivery], record: Record) -> tuple[list[Delivery], list[Output]]:
        alert = record.value
        assert isinstance(alert, Alert)
        state += deliveries(self.receivers, alert, record.partition, record.offset)
        self.counters["alerts"] += 1
        return state, []

    def sync(self, state: list[Delivery]) -> list[Delivery]:
        if state:
            self.outbox.enqueue(state, time.time())  # durable before the offsets move on
            for name in {d.receiver for d in state}:
                self.workers[name].wake.set()
        return []

    def advance(self, state: list[Delivery], clock: Clock) -> tuple[list[Delivery], list[Output]]:
        if clock.now - self._last_prune > 3600:
            self._last_prune = clock.now
            self.outbox.prune(time.time() - self.settings.notify_keep_delivered_days * 86400)
        return state, []

    def dump(self, state: list[Delivery]) -> Any:
        raise NotImplementedError("the notifier's state is its outbox")

    def restore(self, data: Any, partition: int) -> list[Delivery]:
        raise NotImplementedError("the notifier's state is its outbox")


class Notifier(App):
    def __init__(self, settings: NotifierSettings) -> None:
        super().__init__(settings, "notifier")
        self.settings: NotifierSettings = settings
        self.receivers = receivers(settings)
        self.outbox = Outbox(settings.outbox_path)
        self.reporter = Reporter(settings)
        self.workers = {r.name: ReceiverWorker(r, self.outbox, settings, self.reporter) for r in self.receivers}
        self.add(NotifierProcessor(settings, self.outbox, self.workers, self.counters), settings.group_id)
        self.metrics.extra.append(self.families)

    def families(self) -> list[Metric]:
        """The outbox and each receiver's deliveries (warden.runtime.metrics serves them)."""
        labels = ["receiver"]
        pending = GaugeMetricFamily("warden_notifier_outbox_pending", "Deliveries owed to the receiver (in the "
                                    "outbox, not delivered, not parked)", labels=labels)
        parked = GaugeMetricFamily("warden_notifier_outbox_parked", "Deliveries the receiver refused for good "
                                   "(a permanent 4xx), parked with the reason", labels=labels)
        unreported = GaugeMetricFamily("warden_notifier_parked_unreported", "Parked deliveries whose dead letter "
                                       "the broker has not acknowledged yet", labels=labels)
        firing = GaugeMetricFamily("warden_notifier_alertmanager_firing", "Warden alerts the notifier keeps "
                                   "re-posting to Alertmanager as firing", labels=labels)
        attempts = CounterMetricFamily("warden_notifier_delivery_attempts", "Delivery attempts by result "
                                       "(delivered; failed: retried with backoff; parked)",
                                       labels=["receiver", "result"])
        refused = CounterMetricFamily("warden_notifier_parked", "Deliveries parked, by the receiver's HTTP "
                                      "status (unreadable: an outbox entry of an older format)",
                                      labels=["receiver", "status"])
        reposts = CounterMetricFamily("warden_notifier_alertmanager_reposts", "Firing alerts re-posted to "
                                      "Alertmanager (ok) and re-post rounds that failed (failed)",
                                      labels=["receiver", "result"])
        for name, worker in self.workers.items():
            counts = dict(worker.counters)
            pending.add_metric([name], self.outbox.pending(name))
            parked.add_metric([name], self.outbox.parked(name))
            unreported.add_metric([name], self.outbox.parked(name, unreported=True))
            for result, key in (("delivered", "delivered"), ("failed", "failed_attempts"), ("parked", "parked")):
                attempts.add_metric([name, result], counts.get(key, 0))
            for key, value in sorted(counts.items()):
                if key.startswith("parked:"):
                    refused.add_metric([name, key.partition(":")[2]], value)
            if worker.receiver.kind == ReceiverKind.ALERTMANAGER:
                firing.add_metric([name], len(self.outbox.firing(name)))
                reposts.add_metric([name, "ok"], counts.get("reposts", 0))
                reposts.add_metric([name, "failed"], counts.get("repost_failures", 0))
        return [pending, parked, unreported, firing, attempts, refused, reposts]

    def start(self) -> Notifier:
        super().start()
        if self.receivers:
            log.info("notifier: delivering alerts to %s; outbox %s (%d undelivered from before)",
                     ", ".join(f"{r.name} ({'/'.join(sorted(s.value for s in r.severities))})" for r in self.receivers),
                     self.settings.outbox_path, self.outbox.pending())
        else:
            log.warning("notifier: no receivers configured (WARDEN_ALERTMANAGER_URL, WARDEN_WEBHOOK_URL, "
                        "WARDEN_SLACK_WEBHOOK_URL, WARDEN_PAGERDUTY_ROUTING_KEY): alerts only land in the ledger")
        for worker in self.workers.values():
            worker.start()
        return self

    def close(self, checkpoint: bool = True) -> None:
        try:
            super().close(checkpoint)  # the last batch's deliveries reach the outbox before the offsets are committed
        finally:
            for worker in self.workers.values():
                worker.stop()
            self.reporter.close()
            self.outbox.close()


def run_service(settings: NotifierSettings, stop: threading.Event) -> None:
    Notifier(settings).start().serve(stop)
