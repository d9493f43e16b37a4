"""cost-aggregator live on the session broker, landed by the real ledger-sink into chDB:
the stream's totals equal the SQL totals over the raw events, to the cent, and equal replay's."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.cost_aggregator.helpers import expected, same_totals, totals
from tests.ledger_sink.helpers import produce, simulated, sink_settings, wait_for
from warden.core.records import CostRollup
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.cost.prices import PriceTable
from warden.cost.sql import as_totals, differences, event_totals_sql, per_task_sql, rollup_totals_sql
from warden.cost_aggregator.service import CostAggregator
from warden.cost_aggregator.settings import CostAggregatorSettings
from warden.demo.simulator import malformed
from warden.ledger.client import Ledger
from warden.ledger_sink.service import LedgerSink

pytestmark = pytest.mark.integration


def aggregator_settings(topics: WardenSettings, **extra: object) -> CostAggregatorSettings:
    fields: dict[str, Any] = {**topics.model_dump(), "group_id": f"cost-{uuid.uuid4().hex[:8]}",
                              "idle_flush_s": 1.0, "snapshot_every_s": 0.5, **extra}
    return CostAggregatorSettings(**fields)


def test_stream_totals_equal_sql_totals_over_the_landed_events(topics: WardenSettings, ledger: Ledger) -> None:
    events = simulated(3000, "cost-live", seed=5)
    bad = malformed(wire_for(topics).codec.encode, 2, events[0].occurred_at, 4, "cost-live")
    produce(topics, events[:1500], bad)
    produce(topics, events[1500:])
    want, flagged = expected(events)
    sink = LedgerSink(sink_settings(topics, ledger), ledger).start()
    aggregator = CostAggregator(aggregator_settings(topics)).start()
    db = ledger.database
    prices = PriceTable.load()

    def step() -> None:
        aggregator.poll_once()
        sink.poll_once()

    last: dict[Any, float] = {}

    def converged() -> bool:
        stream = as_totals([list(r) for r in ledger.rows(rollup_totals_sql(db))])
        last.clear()
        last.update({k: round(v[0], 6) for k, v in stream.items()})
        return bool(stream) and same_totals(last, want)

    try:
        try:
            wait_for(converged, timeout_s=120, step=step, what="the landed rollups to reach the stream's totals")
        except AssertionError:
            wrong = {k: (last.get(k), want.get(k)) for k in set(last) | set(want)
                     if abs((last.get(k) or 0) - (want.get(k) or 0)) >= 1e-6}
            raise AssertionError(f"{len(wrong)} keys differ (landed, expected): {sorted(wrong.items())[:5]}; "
                                 f"aggregator {dict(aggregator.counters)}") from None
        sql = as_totals([list(r) for r in ledger.rows(event_totals_sql(prices, db))])
        stream = as_totals([list(r) for r in ledger.rows(rollup_totals_sql(db))])
        assert differences(stream, sql) == []
        assert sum(v[2] for v in sql.values()) > 0, "unpriced calls are counted on both sides"
        hourly = as_totals([list(r) for r in ledger.rows(rollup_totals_sql(db, window="1h"))])
        assert differences(hourly, sql) == []
        wait_for(lambda: {r[0] for r in ledger.rows(
            f"SELECT run_id FROM {db}.alerts WHERE rule = 'task_ceiling'")} == flagged, step=step,
            what="every run over its per-task ceiling to be flagged in the ledger")
        per_task = {r[0]: r for r in ledger.rows(per_task_sql(db))}
        completed = sum(1 for e in events if e.event_type == "run_completed")
        assert sum(int(r[2]) for r in per_task.values()) == completed
        assert all(r[4] is not None and float(r[4]) > 0 for r in per_task.values())
        assert aggregator.counters["skipped_invalid"] == 4
    finally:
        aggregator.close()
        sink.close()


@pytest.mark.parametrize("headers", [True, False], ids=["routing-headers", "no-headers"])
def test_rollups_on_the_topic_match_replay_and_carry_unique_ids(topics: WardenSettings, headers: bool) -> None:
    from confluent_kafka import Consumer

    from warden.core import topics as names

    events = simulated(1200, f"cost-topic-{headers}", seed=9)
    produce(topics, events, headers=headers)
    want, _ = expected(events)
    aggregator = CostAggregator(aggregator_settings(topics, budgets_enabled=False)).start()
    reader = Consumer({**topics.kafka_config(), "group.id": f"r-{uuid.uuid4().hex[:6]}",
                       "auto.offset.reset": "earliest", "enable.auto.commit": False})
    reader.subscribe([topics.topic(names.COST_ROLLUPS)])
    wire = wire_for(topics)
    seen: list[CostRollup] = []

    def step() -> None:
        aggregator.poll_once()
        for msg in reader.consume(500, 0.05):
            if msg.error() is None:
                record = wire.decode(msg.value(), "warden.CostRollup")
                assert isinstance(record, CostRollup)
                seen.append(record)

    try:
        wait_for(lambda: same_totals(totals(seen), want), timeout_s=90, step=step,
                 what="rollups equal to replay's totals")
        # run starts and tool calls only move the windows: passed over on their headers, or after the Avro decode
        assert aggregator.counters["not_read"] > 0 and (aggregator.counters["passed_by_header"] > 0) is headers
    finally:
        aggregator.close()
        reader.close()
    assert len({r.rollup_id for r in seen}) == len(seen)
