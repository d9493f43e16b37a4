"""Shared by the aggregator's integration tests: what `warden replay` says the totals must be."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path

from confluent_kafka import Consumer

from warden.core import topics as names
from warden.core.events import AgentEvent
from warden.core.records import Alert, CostRollup
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.replay.runner import replay

Key = tuple[str, str, str, str]


def expected(events: list[AgentEvent]) -> tuple[dict[Key, float], set[str]]:
    """What `warden replay` says: totals per tenant/workflow/model/route and the runs flagged over
    their per-task ceiling, read back from its costs.jsonl and alerts.jsonl."""
    with tempfile.TemporaryDirectory() as scratch:
        source, out = Path(scratch) / "events.jsonl", Path(scratch) / "out"
        source.write_text("".join(json.dumps(e.to_json_view()) + "\n" for e in events))
        result = replay(source, out)
        assert result.bad == []
        rollups = [CostRollup.model_validate_json(line) for line in (out / "costs.jsonl").read_text().splitlines()]
        alerts = [Alert.model_validate_json(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    return totals(rollups), {a.run_id or "" for a in alerts if a.rule == "task_ceiling"}


def totals(rollups: list[CostRollup], window: str = "1m") -> dict[Key, float]:
    found: dict[Key, float] = defaultdict(float)
    for r in rollups:
        if r.window == window and r.model:
            found[(r.tenant_id, r.workflow, r.model, r.route)] += r.cost_usd
    return {k: round(v, 6) for k, v in found.items()}


def same_totals(got: dict[Key, float], want: dict[Key, float], tolerance_usd: float = 2e-6) -> bool:
    """Equal keys and dollars up to float summation order (a millionth of a cent is not money)."""
    return got.keys() == want.keys() and all(abs(got[k] - want[k]) < tolerance_usd for k in want)


class RollupReader:
    """Every cost rollup on the test's topic, from the beginning, for tests of live aggregators."""

    def __init__(self, settings: WardenSettings) -> None:
        self.consumer = Consumer({**settings.kafka_config(), "group.id": f"r-{uuid.uuid4().hex[:6]}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe([settings.topic(names.COST_ROLLUPS)])
        self.wire = wire_for(settings)
        self.seen: list[CostRollup] = []

    def read(self) -> None:
        for msg in self.consumer.consume(500, 0.1):
            if msg.error() is None:
                record = self.wire.decode(msg.value(), "warden.CostRollup")
                assert isinstance(record, CostRollup)
                self.seen.append(record)
