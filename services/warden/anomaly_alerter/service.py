"""The anomaly-alerter shell: agent.events and policy.decisions in, alerts out, on the runtime.

One state for every partition it reads (scope WHOLE): tenant and workflow windows see runs from
all of them, so run one replica (the runtime warns when a group gives it only part). Records go
through each lane's ReorderBuffer (lanes.py) and reach the pure ``step`` in event-time order, so the
live alerter and `warden replay` raise the same alerts. The runtime says when a partition has been
read to its end (partition EOF) and for how long: a partition caught up for `alert_idle_after_s`
stops holding back event time. Crash safety is the runtime's: alerts confirmed delivered, then the
checkpoint (rule state, the records still in the buffers, the next offset of every input
partition), then the offsets; re-raised alerts carry the same ids, which the ledger and the
notifier's outbox land once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from warden.alerting.config import load_rules
from warden.anomaly_alerter import snapshot
from warden.anomaly_alerter.lanes import Lanes
from warden.anomaly_alerter.processor import LANES, AlerterState, Lane
from warden.anomaly_alerter.settings import AnomalyAlerterSettings
from warden.core import topics
from warden.core.events import AgentEvent, LlmCall
from warden.core.output import Output
from warden.cost.prices import PriceTable
from warden.kafka.clients import Fetch
from warden.runtime.app import App
from warden.runtime.processor import BaseProcessor, Clock, Input, Record, Restored, Scope

log = logging.getLogger("warden.anomaly_alerter")
NAME = "anomaly-alerter"  # also the store key of its one state, as before the runtime
REPORT_EVERY_S = 10.0


class AlerterProcessor(BaseProcessor[Lanes]):
    name = NAME
    scope = Scope.WHOLE
    needs_every_partition = True
    seen_capacity = 0  # each lane counts a record once itself (AlerterState.seen), as replay does
    dedupe = False
    step_counter = "records"  # "processed" counts lane steps, as before the runtime
    failure_counter = "evaluation_failures"
    # Fewer, fuller fetches: the embedded broker's cost per fetch grows with the batches a partition
    # holds (docs/decisions/0007-embedded-broker-fetch-cost.md), and alerts already wait out a 100 ms
    # lateness allowance; idle, a fetch returns after 50 ms. EOF: a caught-up partition goes idle.
    fetch = Fetch(wait_ms=50, min_bytes=256 * 1024, partition_eof=True)

    def __init__(self, settings: AnomalyAlerterSettings, counters: Counter[str]) -> None:
        self.settings = settings
        self.counters = counters
        self.rules = load_rules(settings.alert_rules_path, settings.alert_renotify_minutes * 60)
        self.prices = PriceTable.load(settings.prices_path)
        self.inputs = (Input(topics.AGENT_EVENTS, "warden.AgentEvent"),
                       Input(topics.POLICY_DECISIONS, "warden.PolicyDecision"))
        self.batch_max_rows = settings.batch_max_rows
        self.checkpoint_every_s = settings.snapshot_interval_s
        self._last_report = time.monotonic()

    def price(self, event: AgentEvent, body: LlmCall) -> float | None:
        priced = self.prices.price(body, event.occurred_at)
        return priced.cost_usd if priced.known else None

    def _lanes_of(self, topic: str) -> tuple[Lane, ...]:
        return LANES if topic == topics.AGENT_EVENTS else ("decisions",)

    def initial(self, partition: int) -> Lanes:
        s = self.settings
        return Lanes.new(self.rules, s.alert_lateness_ms, s.call_cache_size, s.dedupe_window)

    def dump(self, state: Lanes) -> Any:
        return snapshot.dump(state.states, state.buffers)

    def restore(self, data: Any, partition: int) -> Lanes:
        lanes = self.initial(partition)
        lanes.states = snapshot.restore(data, lanes.buffers)
        lanes.rebuild_undecided()
        log.info("anomaly-alerter: state restored (%d records waiting)", lanes.waiting)
        return lanes

    def upgrade(self, snapshot_state: Any, next_offset: int, partition: int) -> Restored[Lanes]:
        prefix = self.settings.topic_prefix
        positions = {(t.removeprefix(prefix), p): o for (t, p), o in snapshot.offsets_of(snapshot_state).items()}
        return Restored(self.restore(snapshot_state, partition), positions, [])

    def assigned(self, state: Lanes, topic: str, partition: int) -> Lanes:
        state.register((self.settings.topic(topic), partition), self._lanes_of(topic))
        return state

    def revoked(self, state: Lanes, topic: str, partition: int) -> Lanes:
        state.forget((self.settings.topic(topic), partition))
        return state

    def step(self, state: Lanes, record: Record) -> tuple[Lanes, list[Output]]:
        state.push((self.settings.topic(record.topic), record.partition), record.value,
                   self._lanes_of(record.topic))
        return state, self._release(state, None)

    def advance(self, state: Lanes, clock: Clock) -> tuple[Lanes, list[Output]]:
        for (topic, partition), ended_s in clock.at_end.items():
            if ended_s >= self.settings.alert_idle_after_s:
                state.set_idle((self.settings.topic(topic), partition))
        state.stamp(clock.now)
        outputs = self._release(state, clock.now)
        if clock.now - self._last_report >= REPORT_EVERY_S:
            self._last_report = clock.now
            self.report(state)
        return state, outputs

    def _release(self, state: Lanes, now: float | None) -> list[Output]:
        hold = state.decisions_hold(now, self.settings.alert_decision_wait_s, self.counters)
        outputs = []
        for _, alert in state.release(self.rules, self.price, hold, self.counters):
            outputs.append(Output(topics.ALERTS, alert.tenant_id, alert))
            log.info("alert %s %s %s/%s count=%d: %s", alert.status, alert.kind.value, alert.tenant_id,
                     alert.workflow, alert.count, alert.summary)
        self.counters["alerts"] += len(outputs)
        return outputs

    def report(self, state: Lanes) -> None:
        """What on-call needs to trust the alerter: throughput, what waits in the buffer and why."""
        lanes = []
        for lane, buffer in state.buffers.items():
            mark = buffer.watermark()
            behind = (time.time() * 1000 - mark) / 1000 if mark is not None and mark > 0 else 0.0
            holding = sorted(str(s) for s, newest in buffer.newest.items() if s not in buffer.idle and mark is not None
                             and (newest is None or newest - buffer.lateness_ms == mark))
            lanes.append(f"{lane} lane: {len(buffer)} waiting, released up to {behind:.1f} s before now"
                         + (f" (held by {', '.join(holding[:3])})" if holding else "") + f", {buffer.late} late")
        c = self.counters
        log.info("anomaly-alerter: %d records read, %d processed, %d alerts, %d undecodable, %d tool calls awaiting "
                 "their decision (%d given up on); %s", c["events"], c["processed"], c["alerts"],
                 c["skipped_invalid"], len(state.undecided), c["decisions_not_seen"], "; ".join(lanes))


class AnomalyAlerter(App):
    def __init__(self, settings: AnomalyAlerterSettings) -> None:
        super().__init__(settings, NAME, linger_ms=1)
        self.settings: AnomalyAlerterSettings = settings
        self.processor = AlerterProcessor(settings, self.counters)
        self.rules = self.processor.rules
        self.task = self.add(self.processor, settings.group_id, self.store_for(settings))

    def start(self) -> AnomalyAlerter:
        super().start()
        log.info("anomaly-alerter: rules from %s, re-notify every %.0f min; reading %s", self.rules.source,
                 self.settings.alert_renotify_minutes, ", ".join(self.task.main))
        return self

    @property
    def lanes(self) -> Lanes:
        return self.task.slots[0].state

    @property
    def states(self) -> dict[Lane, AlerterState]:
        return self.lanes.states

    @property
    def undecided(self) -> dict[str, tuple[int, float | None]]:
        return self.lanes.undecided

    @property
    def waiting(self) -> int:
        return self.lanes.waiting

    @property
    def late(self) -> int:
        return self.lanes.late

    def caught_up(self) -> bool:
        return self.lanes.caught_up()


def run_service(settings: AnomalyAlerterSettings, stop: threading.Event) -> None:
    AnomalyAlerter(settings).start().serve(stop)

