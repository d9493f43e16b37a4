"""The policy-evaluator shell: agent.events and control in, decisions (and switches) out.

At-least-once with deterministic ids: outputs are produced and delivered before the input
offsets are committed; a replay after a crash re-produces identical records (same
decision_id), which the ledger lands once. The control topic is read by a second consumer
from the beginning (no group, every partition), polled before each batch, so a switch set by
an operator refuses calls within one poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from confluent_kafka import Consumer, Message, TopicPartition

from warden.broker.consume import drain, records
from warden.broker.produce import CheckedProducer
from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.loop import run_until
from warden.core.wire import Wire, wire_for
from warden.policy.bundle import BundleWatcher
from warden.policy_evaluator.processor import READS, EvaluatorState, step
from warden.policy_evaluator.settings import PolicyEvaluatorSettings

log = logging.getLogger("warden.policy_evaluator")


class PolicyEvaluator:
    def __init__(self, settings: PolicyEvaluatorSettings) -> None:
        self.settings = settings
        self.wire: Wire = wire_for(settings)
        self.watcher = BundleWatcher(settings.policies_dir)
        self.state = EvaluatorState(settings.run_cache_size)
        self.counters: Counter[str] = Counter()
        self._last_reload = time.monotonic()
        conf = settings.kafka_config()
        self.events = Consumer({
            **conf, "group.id": settings.group_id, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": settings.group_session_timeout_ms,
            "heartbeat.interval.ms": max(500, settings.group_session_timeout_ms // 5),
            # Tansu answers a fetch only when its max wait is up, not when data arrives: keep it short,
            # or every decision (and every SDK gate round trip) waits for it.
            "fetch.wait.max.ms": 10,
        })
        self.control = Consumer({**conf, "group.id": f"{settings.group_id}-control-reader",
                                 "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        self.producer = CheckedProducer({**settings.producer_config(), "enable.idempotence": True, "acks": "all",
                                  "linger.ms": 2})

    def start(self) -> PolicyEvaluator:
        control_topic = self.settings.topic(topics.CONTROL)
        partitions = self.control.list_topics(control_topic, timeout=10).topics[control_topic].partitions
        self.control.assign([TopicPartition(control_topic, p, 0) for p in partitions])
        self.events.subscribe([self.settings.topic(topics.AGENT_EVENTS)])
        log.info("policy-evaluator: bundle %s from %s", self.watcher.bundle.version, self.watcher.directory)
        return self

    def _decode(self, msg: Message, expected: str, event_types: frozenset[str] | None = None) -> object | None:
        return self.wire.decode_or_skip(msg.value(), expected, self.counters, event_types)

    def poll_control(self) -> None:
        for msg in self.control.consume(100, 0):
            if msg.error() is None and msg.value() is not None:
                record = self._decode(msg, "warden.Control")
                if record is not None:
                    self.state, _ = step(self.state, self.watcher.bundle, record)  # type: ignore[arg-type]

    def reload(self) -> None:
        if time.monotonic() - self._last_reload < self.settings.reload_interval_s:
            return
        self._last_reload = time.monotonic()
        if self.watcher.check():
            log.info("policy bundle reloaded: version %s", self.watcher.bundle.version)
        elif self.watcher.last_error:
            log.error("policy bundle refused, version %s stays in force: %s", self.watcher.bundle.version,
                      self.watcher.last_error)

    def poll_once(self) -> int:
        self.reload()
        self.poll_control()
        messages = drain(self.events, self.settings.batch_max_rows, 0.05)
        if not messages:
            return 0
        bundle = self.watcher.bundle
        for msg in records(messages, self.counters):
            event = self._decode(msg, "warden.AgentEvent", READS)
            if not isinstance(event, AgentEvent):
                continue
            try:
                self.state, outputs = step(self.state, bundle, event)
            except Exception:  # one poison event must not stop every decision (the gate would deny all)
                log.exception("event %s on %s[%s]@%s could not be evaluated; skipped", event.event_id,
                              msg.topic(), msg.partition(), msg.offset())
                self.counters["evaluation_failures"] += 1
                continue
            for out in outputs:
                self.producer.produce(self.settings.topic(out.topic), self.wire.encode(out.record),
                                      key=out.key.encode())
                self.counters[f"produced:{out.topic}"] += 1
        self.producer.flush_or_raise(30, "decisions (offsets not committed)")
        # Async: a lost commit only replays decisions with the same ids, which the ledger lands once.
        self.events.commit(asynchronous=True)
        self.counters["events"] += len(messages)
        return len(messages)

    def run(self, stop: threading.Event) -> None:
        run_until(stop, self.poll_once, self.close)

    def close(self) -> None:
        self.producer.close(10)
        self.events.close()
        self.control.close()


def run_service(settings: PolicyEvaluatorSettings, stop: threading.Event) -> None:
    PolicyEvaluator(settings).start().run(stop)
