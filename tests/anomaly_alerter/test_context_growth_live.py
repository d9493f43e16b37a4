"""The live anomaly-alerter on the real broker raises context_growth for the stuffed runs, the same
records as `warden replay` over the same events."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.alerting.events import completed, event
from tests.anomaly_alerter.test_service import Alerts, alerter, key
from tests.ledger_sink.helpers import produce, wait_for
from warden.alerting.config import load_rules
from warden.anomaly_alerter.settings import AnomalyAlerterSettings
from warden.core.events import AgentEvent
from warden.core.records import Alert
from warden.core.settings import WardenSettings
from warden.replay.runner import replay

pytestmark = pytest.mark.integration


def run(name: str, start: float, tokens: list[int], tenant: str = "acme") -> list[AgentEvent]:
    out = [event("run_started", {"workflow_version": "v1", "prompt_version": "p", "model": "gpt-4o"}, start,
                 run=name, step=1, tenant=tenant)]
    for i, n in enumerate(tokens):
        out.append(event("llm_call", {"model": "gpt-4o", "provider": "openai", "input_tokens": n, "output_tokens": 80,
                                      "latency_ms": 1.0, "cost_usd": 0.001}, start + 5 * (i + 1), run=name,
                         step=2 + 2 * i, tenant=tenant))
    out.append(completed(start + 5 * (len(tokens) + 1), "succeeded", run=name, step=2 + 2 * len(tokens),
                         tenant=tenant))
    return out


def test_live_context_growth_tickets_equal_replays(topics: WardenSettings, tmp_path: Path) -> None:
    stuffed = [run(f"stuffed-{n}", 30.0 * n, [900 + 1300 * i for i in range(7)], tenant=("acme", "globex")[n % 2])
               for n in range(6)]
    flat = [run(f"retrieval-{n}", 30.0 * n + 7, [1500, 1700, 1600, 1800, 1650, 1750]) for n in range(6)]
    events = sorted((e for r in stuffed + flat for e in r), key=lambda e: e.occurred_at)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(e.model_dump_json() + "\n" for e in events))
    rules = load_rules(renotify_s=AnomalyAlerterSettings().alert_renotify_minutes * 60)
    replay(path, tmp_path / "out", alert_rules=rules)
    offline = [a for a in (Alert.model_validate_json(line) for line in
                           (tmp_path / "out" / "alerts.jsonl").read_text().splitlines()) if a.rule == "context_growth"]
    assert sorted(a.run_id or "" for a in offline if a.status == "firing") == [f"stuffed-{n}" for n in range(6)]

    live = Alerts(topics)
    with alerter(topics, f"aa-{uuid.uuid4().hex[:8]}") as service:
        produce(topics, events)
        wait_for(lambda: service.counters["processed"] >= len(events) and service.caught_up(), timeout_s=90,
                 what="every event through the events lane")
    wait_for(lambda: len({key(a) for a in live.seen if a.rule == "context_growth"}) >= len(offline), step=live.read,
             what="every context_growth record")
    online = {key(a): a for a in live.seen if a.rule == "context_growth"}
    assert set(online) == {key(a) for a in offline}
    for alert in offline:
        assert online[key(alert)] == alert
    assert "grew from 900 at step 2 to 4,800 at step 8" in offline[0].summary
