"""risk.scores land in the ledger with every field of the record, once, and their chains verify."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Producer

from tests.ledger_sink.helpers import sink_settings, wait_for
from tests.risk_scorer.test_processor import CONFIG, call, decided
from warden.core.records import Decision, RiskScore
from warden.core.settings import WardenSettings
from warden.core.topics import RISK_SCORES
from warden.core.wire import wire_for
from warden.ledger.client import Ledger
from warden.ledger.verify import verify
from warden.ledger_sink.service import LedgerSink
from warden.risk_scorer.processor import PartitionState, step

pytestmark = pytest.mark.integration


def test_scores_land_with_factors_contributions_and_threshold_once(topics: WardenSettings, ledger: Ledger) -> None:
    e = call("payments.refund", {"order_id": "o", "amount_usd": 310.0}, "c-land")
    state, outputs = step(PartitionState(), CONFIG, e)
    outputs += step(state, CONFIG, decided(e, Decision.ALLOW))[1]
    [score] = [o.record for o in outputs if isinstance(o.record, RiskScore)]
    wire = wire_for(topics)
    producer = Producer(topics.producer_config())
    sink = LedgerSink(sink_settings(topics, ledger, batch_max_rows=10), ledger).start()
    db = ledger.database
    try:
        for _ in range(2):  # the scorer re-sends it after a restart
            producer.produce(topics.topic(RISK_SCORES), wire.encode(score), key=score.run_id.encode())
            producer.flush(10)
            wait_for(lambda: int(ledger.scalar(f"SELECT count() FROM {db}.risk_scores")) >= 1,
                     step=sink.poll_once, what="the score in the ledger")
        for _ in range(20):
            sink.poll_once()
    finally:
        sink.close()
    assert int(ledger.scalar(f"SELECT count() FROM {db}.risk_scores")) == 1
    row = ledger.query(f"SELECT toJSONString(tuple(score, factors, contributions, threshold, subject, call_id, "
                       f"tenant_id, workflow, weights_version, reason, route_to_human)) FROM {db}.risk_scores")
    landed = json.loads(row.result_rows[0][0])
    assert landed == [score.score, score.factors, score.contributions, score.threshold, "tool_call", "c-land",
                      score.tenant_id, "refund_ticket", CONFIG.weights.version, score.reason,
                      score.route_to_human]
    report = verify(ledger)
    assert report.records == 1 and not report.broken
