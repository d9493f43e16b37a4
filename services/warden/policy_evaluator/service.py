"""The policy-evaluator shell: agent.events and control in, decisions (and switches) out, on the runtime.

At-least-once with deterministic ids: the runtime confirms the decisions delivered before each
checkpoint of the run facts (spend and denials so far, per partition, on the changelog topic, so
they move with the partition and survive a restart) and commits the offsets it covers; after a
crash the partition is restored and re-read from there, and re-produced decisions are identical
(same decision_id), which the ledger lands once. The control topic is a broadcast input (every
partition from the beginning, on every replica), polled before each batch, so a switch set by an
operator refuses calls within one poll; a stop-ship switch one partition sets applies to the other
partitions of this replica at once (the runtime applies a state's writes to a table it reads).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from warden.core import topics
from warden.core.output import Output
from warden.kafka.clients import Fetch
from warden.policy.bundle import BundleWatcher
from warden.policy_evaluator.processor import READS, EvaluatorState, step
from warden.policy_evaluator.settings import PolicyEvaluatorSettings
from warden.runtime.app import App
from warden.runtime.processor import BaseProcessor, Input, Record, Role

log = logging.getLogger("warden.policy_evaluator")


class EvaluatorProcessor(BaseProcessor[EvaluatorState]):
    name = "policy-evaluator"
    dedupe = False  # as `warden replay`, which steps every event it reads (the state counts ids itself)
    seen_capacity = 0
    failure_counter = "evaluation_failures"
    # Tansu answers a fetch only when its max wait is up: keep it short, every SDK gate waits on us.
    fetch = Fetch(wait_ms=10)

    def __init__(self, settings: PolicyEvaluatorSettings) -> None:
        self.settings = settings
        self.inputs = (Input(topics.AGENT_EVENTS, "warden.AgentEvent", reads=READS),
                       Input(topics.CONTROL, "warden.Control", Role.BROADCAST))
        self.batch_max_rows = settings.batch_max_rows
        self.checkpoint_every_s = settings.snapshot_every_s
        self.watcher = BundleWatcher(settings.policies_dir)
        self._last_reload = time.monotonic()

    def initial(self, partition: int) -> EvaluatorState:
        return EvaluatorState(self.settings.run_cache_size)

    def dump(self, state: EvaluatorState) -> Any:
        return state.to_json()

    def restore(self, data: Any, partition: int) -> EvaluatorState:
        return EvaluatorState.from_json(data, self.settings.run_cache_size)

    def step(self, state: EvaluatorState, record: Record) -> tuple[EvaluatorState, list[Output]]:
        return step(state, self.watcher.bundle, record.value)

    def refresh(self) -> None:
        if time.monotonic() - self._last_reload < self.settings.reload_interval_s:
            return
        self._last_reload = time.monotonic()
        if self.watcher.check():
            log.info("policy bundle reloaded: version %s", self.watcher.bundle.version)
        elif self.watcher.last_error:
            log.error("policy bundle refused, version %s stays in force: %s", self.watcher.bundle.version,
                      self.watcher.last_error)


class PolicyEvaluator(App):
    def __init__(self, settings: PolicyEvaluatorSettings) -> None:
        super().__init__(settings, "policy-evaluator", linger_ms=2)
        self.processor = EvaluatorProcessor(settings)
        self.task = self.add(self.processor, settings.group_id, self.store_for(settings))

    def start(self) -> PolicyEvaluator:
        super().start()
        log.info("policy-evaluator: bundle %s from %s", self.processor.watcher.bundle.version,
                 self.processor.watcher.directory)
        return self

    @property
    def states(self) -> dict[int, EvaluatorState]:
        """Per partition owned."""
        return {p: slot.state for p, slot in self.task.slots.items()}


def run_service(settings: PolicyEvaluatorSettings, stop: threading.Event) -> None:
    PolicyEvaluator(settings).start().serve(stop)
