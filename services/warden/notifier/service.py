"""The notifier shell: every record on the alerts topic, whoever produced it, to on-call.

Two halves that never wait on each other. The reader (a sink on the runtime) puts each alert's
deliveries in the outbox (durable, at every checkpoint: after each batch) and only then are the
topic offsets committed. One worker thread per receiver
posts that receiver's entries in order, with exponential backoff on failure; a receiver
that is down or slow holds up only its own entries, never the topic or another receiver.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from typing import Any

import httpx

from warden.core import topics
from warden.core.output import Output
from warden.core.records import Alert
from warden.kafka.clients import Fetch
from warden.notifier.outbox import Entry, Outbox
from warden.notifier.processor import Delivery, Receiver, ReceiverKind, backoff_s, deliveries, receivers
from warden.notifier.settings import NotifierSettings
from warden.runtime.app import App
from warden.runtime.processor import BaseProcessor, Clock, Input, Record, Scope

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
        state += deliveries(self.receivers, alert)
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
        self.workers = {r.name: ReceiverWorker(r, self.outbox, settings) for r in self.receivers}
        self.add(NotifierProcessor(settings, self.outbox, self.workers, self.counters), settings.group_id)

    def start(self) -> Notifier:
        super().start()
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

    def close(self, checkpoint: bool = True) -> None:
        try:
            super().close(checkpoint)  # the last batch's deliveries reach the outbox before the offsets are committed
        finally:
            for worker in self.workers.values():
                worker.stop()
            self.outbox.close()


def run_service(settings: NotifierSettings, stop: threading.Event) -> None:
    Notifier(settings).start().run(stop)
