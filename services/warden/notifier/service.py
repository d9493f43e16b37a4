"""The notifier shell: every record on the alerts topic, whoever produced it, to on-call.

Two halves that never wait on each other. The reader puts each alert's deliveries in the
outbox (durable) and only then commits the topic offset. One worker thread per receiver
posts that receiver's entries in order, with exponential backoff on failure; a receiver
that is down or slow holds up only its own entries, never the topic or another receiver.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter

import httpx
from confluent_kafka import Consumer, KafkaException

from warden.broker.consume import drain, records
from warden.core import topics
from warden.core.records import Alert
from warden.core.wire import Wire, wire_for
from warden.notifier.outbox import Entry, Outbox
from warden.notifier.processor import Receiver, ReceiverKind, backoff_s, deliveries, receivers
from warden.notifier.settings import NotifierSettings

log = logging.getLogger("warden.notifier")


class ReceiverWorker:
    def __init__(self, receiver: Receiver, outbox: Outbox, settings: NotifierSettings) -> None:
        self.receiver = receiver
        self.outbox = outbox
        self.settings = settings
        self.wake = threading.Event()
        self.counters: Counter[str] = Counter()
        self.client = httpx.Client(timeout=settings.notify_timeout_s)
        self.thread = threading.Thread(target=self._loop, name=f"notify-{receiver.name}", daemon=True)
        self._stop = threading.Event()

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
            entry = self.outbox.head(self.receiver.name)
            if entry is None:
                self.wake.wait(1.0)
                self.wake.clear()
                continue
            wait = entry.next_at - time.time()
            if wait > 0:
                self.wake.wait(min(wait, 1.0))  # woken early only to notice a stop
                self.wake.clear()
                continue
            self.send(entry)

    def body(self, entry: Entry) -> bytes:
        if self.receiver.kind == ReceiverKind.PAGERDUTY and self.receiver.routing_key is not None:
            data = json.loads(entry.payload)
            data["routing_key"] = self.receiver.routing_key.get_secret_value()
            return json.dumps(data).encode()
        return entry.payload.encode()

    def send(self, entry: Entry) -> bool:
        error: str
        try:
            response = self.client.post(self.receiver.url.get_secret_value(), content=self.body(entry),
                                        headers={"Content-Type": "application/json"})
            if 200 <= response.status_code < 300:
                self.outbox.delivered(entry.seq, time.time())
                self.counters["delivered"] += 1
                if entry.attempts:
                    log.info("%s: delivered %s after %d failed attempt(s)", self.receiver.name, entry.record_id,
                             entry.attempts)
                return True
            error = f"HTTP {response.status_code}: {response.text[:200]}"
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


class Notifier:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self.wire: Wire = wire_for(settings)
        self.receivers = receivers(settings)
        self.outbox = Outbox(settings.outbox_path)
        self.workers = {r.name: ReceiverWorker(r, self.outbox, settings) for r in self.receivers}
        self.counters: Counter[str] = Counter()
        conf = settings.kafka_config()
        self.consumer = Consumer({
            **conf, "group.id": settings.group_id, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": settings.group_session_timeout_ms,
            "heartbeat.interval.ms": max(500, settings.group_session_timeout_ms // 5),
            "fetch.wait.max.ms": 10,  # Tansu answers a fetch only when its max wait is up
        })
        self._last_prune = 0.0

    def start(self) -> Notifier:
        self.consumer.subscribe([self.settings.topic(topics.ALERTS)])
        if self.receivers:
            log.info("notifier: delivering alerts to %s; outbox %s (%d undelivered from before)",
                     ", ".join(f"{r.name} ({'/'.join(sorted(s.value for s in r.severities))})" for r in self.receivers),
                     self.settings.outbox_path, self.outbox.pending())
        else:
            log.warning("notifier: no receivers configured (WARDEN_ALERTMANAGER_URL, WARDEN_SLACK_WEBHOOK_URL, "
                        "WARDEN_PAGERDUTY_ROUTING_KEY): alerts only land in the ledger")
        for worker in self.workers.values():
            worker.start()
        return self

    def poll_once(self) -> int:
        messages = drain(self.consumer, self.settings.batch_max_rows, 0.1)
        owed = []
        read = 0
        for msg in records(messages, self.counters):
            read += 1
            alert = self.wire.decode_or_skip(msg.value(), "warden.Alert", self.counters)
            if alert is None:
                continue  # the ledger-sink dead-letters it
            assert isinstance(alert, Alert)
            owed += deliveries(self.receivers, alert)
            self.counters["alerts"] += 1
        if owed:
            self.outbox.enqueue(owed, time.time())  # durable before the offsets move on
            for name in {d.receiver for d in owed}:
                self.workers[name].wake.set()
        if read:
            try:
                self.consumer.commit(asynchronous=False)
            except KafkaException as exc:  # the outbox dedupes whatever is read again
                log.warning("offset commit failed: %s", exc)
        if time.monotonic() - self._last_prune > 3600:
            self._last_prune = time.monotonic()
            self.outbox.prune(time.time() - self.settings.notify_keep_delivered_days * 86400)
        return len(messages)

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.poll_once()
        finally:
            self.close()

    def close(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        self.consumer.close()
        self.outbox.close()


def run_service(settings: NotifierSettings, stop: threading.Event) -> None:
    Notifier(settings).start().run(stop)
