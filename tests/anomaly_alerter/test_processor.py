"""The alerter's step counts each record once: a client's re-send adds nothing to any window."""

from __future__ import annotations

import json

from pydantic import BaseModel, TypeAdapter

from tests.alerting.events import decision, requested, tool_error
from warden.alerting.config import AlertRules
from warden.anomaly_alerter.processor import Alerter, AlerterState
from warden.core.records import Alert, Decision


def run(records: list[BaseModel], alerter: Alerter | None = None) -> list[Alert]:
    rules = AlertRules()
    alerter = alerter or Alerter.new(rules)
    return [a for record in records for a in alerter.step(rules, record)]


def burst_one_short() -> list[BaseModel]:
    """Four errors of one tool within five minutes: the page needs five (policies/alerts.toml)."""
    return [tool_error(t, run=f"r{t}") for t in (0, 30, 60, 90)]


def test_a_burst_one_short_of_the_threshold_plus_re_sends_raises_no_alert() -> None:
    burst = burst_one_short()
    assert run(burst) == []
    assert run([*burst, *burst, burst[0]]) == [], "re-sent events (same event_id) paged"


def test_a_new_fifth_error_still_pages() -> None:
    burst = burst_one_short()
    alerts = run([*burst, burst[1], tool_error(100, run="r100")])
    assert [(a.rule, a.value) for a in alerts] == [("tool_error_burst", 5.0)]


def test_a_decision_produced_again_counts_once() -> None:
    request = requested(1, "iam", "grant_access", "c1")
    deny = decision(request, Decision.DENY, ["out-of-inventory"])
    alerter = Alerter.new(AlertRules())
    assert [a.count for a in run([request, deny], alerter)] == [1]
    assert run([request, deny], alerter) == []  # the same request and decision again
    assert alerter.lanes["decisions"].duplicates == 2 and alerter.lanes["events"].duplicates == 1


def test_the_ids_counted_go_into_the_snapshot_and_older_snapshots_load() -> None:
    burst = burst_one_short()
    alerter = Alerter.new(AlertRules())
    run(burst, alerter)
    adapter = TypeAdapter(AlerterState)
    document = json.loads(json.dumps(adapter.dump_python(alerter.lanes["events"], mode="json")))
    restored = Alerter({"events": adapter.validate_python(document), "decisions": alerter.lanes["decisions"]})
    assert run(burst, restored) == [], "a re-send after a restart is still recognised"
    older = {k: v for k, v in document.items() if k not in ("seen", "duplicates")}
    assert len(adapter.validate_python(older).seen) == 0
