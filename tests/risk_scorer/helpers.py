"""Shared by the risk-scorer's integration tests: read what a topic holds, decisions computed offline."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from warden.core import topics
from warden.core.events import AgentEvent
from warden.core.records import PolicyDecision
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.policy.bundle import DEFAULT_POLICIES, load_bundle
from warden.policy_evaluator.processor import EvaluatorState, step


class TopicReader:
    """Every record of one topic, from the beginning, decoded."""

    def __init__(self, settings: WardenSettings, base: str, record: str) -> None:
        self.wire = wire_for(settings)
        self.record = record
        self.consumer = Consumer({**settings.kafka_config(), "group.id": f"r-{uuid.uuid4().hex[:8]}",
                                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                                  "enable.auto.commit": False})
        self.consumer.subscribe([settings.topic(base)])
        self.seen: list[Any] = []

    def read(self) -> None:
        for msg in self.consumer.consume(1000, 0.2):
            if msg.error() is None and msg.value() is not None:
                self.seen.append(self.wire.decode(msg.value(), self.record))

    def close(self) -> None:
        self.consumer.close()


def policies_without_stop_ship(tmp_path: Path) -> Path:
    """The reference bundle minus stop-ship switches: decisions then depend on each run alone, not on
    how a consumer interleaves partitions, so live and replay decide every call the same way."""
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICIES, target)
    workflows = target / "workflows.toml"
    workflows.write_text(workflows.read_text().replace(
        'stop_ship = ["deletes-denied-v1", "export-over-1000-rows", "out-of-inventory"]', "stop_ship = []"))
    return target


def offline_decisions(events: list[AgentEvent], policies: Path) -> list[PolicyDecision]:
    bundle = load_bundle(policies)
    state = EvaluatorState()
    out = []
    for event in events:
        state, outputs = step(state, bundle, event)
        out += [o.record for o in outputs
                if isinstance(o.record, PolicyDecision) and o.topic == topics.POLICY_DECISIONS]
    return out


def produce_decisions(settings: WardenSettings, decisions: list[PolicyDecision]) -> None:
    wire = wire_for(settings)
    producer = Producer({**settings.producer_config(), "enable.idempotence": True, "linger.ms": 5})
    for d in decisions:
        producer.produce(settings.topic(topics.POLICY_DECISIONS), wire.encode(d), key=d.run_id.encode())
    assert producer.flush(30) == 0
