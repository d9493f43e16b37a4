"""A stream service: its processors (tasks), one checked producer shared by them, one loop.

The loop polls every task in the order the service declared them, then lets each tick (idle
flushes) and checkpoint; ``run`` always ends in ``close``, which checkpoints once more, leaves
the groups (a revoke saves what is owned) and then closes the producer, so a service stopped by
SIGTERM, Ctrl-C or an exception leaves its state and offsets consistent.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Self

from warden.core.settings import StatefulServiceSettings, WardenSettings
from warden.core.wire import Wire, wire_for
from warden.kafka import clients
from warden.runtime.changelog import ChangelogStore
from warden.runtime.collector import tune_gc
from warden.runtime.metrics import RuntimeMetrics
from warden.runtime.processor import BaseProcessor
from warden.runtime.store import StateStore
from warden.runtime.task import Task
from warden.state.snapshots import SnapshotStore

log = logging.getLogger("warden.runtime")


class App:
    def __init__(self, settings: WardenSettings, name: str, linger_ms: int | None = None) -> None:
        self.settings = settings
        self.name = name
        self.wire: Wire = wire_for(settings)
        self.counters: Counter[str] = Counter()
        self.producer = clients.producer(settings, linger_ms)
        self.tasks: list[Task[Any]] = []
        self._stores: list[ChangelogStore] = []
        self._closed = False
        self.metrics = RuntimeMetrics(self)  # Prometheus: warden.runtime.metrics

    def add(self, processor: BaseProcessor[Any], group_id: str, store: StateStore | None = None,
            counters: Counter[str] | None = None) -> Task[Any]:
        """``counters``: a task's own, when its figures must not mix with the service's (a second stage)."""
        task: Task[Any] = Task(processor, self.settings, group_id, self.wire, self.producer,
                               self.counters if counters is None else counters, store, self.name)
        self.tasks.append(task)
        return task

    def store_for(self, settings: StatefulServiceSettings, group_id: str | None = None,
                  cache_dir: Path | None = None) -> StateStore:
        """Where a processor of this service in group ``group_id`` checkpoints: its changelog topic, with
        the group's snapshot directory as a local cache; or, with ``state_changelog`` off, that directory
        alone (which replicas must then share)."""
        group = group_id or settings.group_id
        cache = SnapshotStore(cache_dir or settings.state_dir / group)
        if not settings.state_changelog:
            return cache
        store = ChangelogStore(settings, group, self.producer, cache)
        self._stores.append(store)
        return store

    def start(self) -> Self:
        for task in self.tasks:
            task.start()
        self.metrics.publish()
        return self

    def poll_once(self) -> int:
        handled = 0
        for task in self.tasks:
            task.processor.refresh()
            handled += task.poll()
            task.tick()
            task.maybe_save()
        self.metrics.sample()
        return handled

    def serve(self, stop: threading.Event) -> None:
        """``run`` as a service's own process does it (`warden run`): the collector tuned once started
        (warden.runtime.collector); tests and in-process stacks call ``run``, which leaves the collector alone."""
        tune_gc()
        self.run(stop)

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.poll_once()
        finally:
            self.close()

    def close(self, checkpoint: bool = True) -> None:
        """``checkpoint=False``: leave without saving or committing anything more (what a crash leaves)."""
        if self._closed:
            return
        self._closed = True
        self.metrics.withdraw()
        try:
            for task in self.tasks:
                task.close(checkpoint)
            for store in self._stores:
                store.close()
        finally:
            self.producer.close(10)
