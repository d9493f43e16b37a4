"""What the notifier posts to Alertmanager's /api/v2/alerts: bounded labels, firing and resolve, re-posts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.alerting.events import at
from warden.core.records import Alert, AlertKind, Severity
from warden.notifier import alertmanager as am

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
URL = "http://grafana:3000/d/warden-operations?var-tenant={tenant_id}&var-workflow={workflow}"


def runaway(run: str, status: str = "firing", first: int = 0, last: int = 60) -> Alert:
    labels = {"resolved_at": "2026-11-02T08:05:00.000Z", "resolved_because": "run completed"} \
        if status == "resolved" else {}
    return Alert(alert_id=f"a-{run}", kind=AlertKind.RUNAWAY_STEPS, severity=Severity.PAGE, tenant_id="acme",
                 workflow="refund_ticket", run_id=run, summary=f"run {run} passed 50 steps", first_seen=at(first),
                 last_seen=at(last), count=51, rule="step_limit", fingerprint=f"fp-{run}", status=status,
                 value=51.0, threshold=50.0, labels={"limit": "50", **labels})


def test_labels_are_the_bounded_identity_and_the_run_is_an_annotation() -> None:
    body = am.postable([runaway("run-1")], NOW, URL)
    assert body["labels"] == {"alertname": "runaway_steps", "rule": "step_limit", "severity": "page",
                              "tenant_id": "acme", "workflow": "refund_ticket", "service": "warden"}
    notes = body["annotations"]
    assert isinstance(notes, dict) and notes["run_id"] == "run-1" and notes["label_limit"] == "50"
    assert notes["summary"] == "run run-1 passed 50 steps" and notes["count"] == "51"
    assert body["startsAt"] == "2026-11-02T08:00:00.000Z" and "endsAt" not in body  # resolve_timeout applies
    assert body["generatorURL"] == "http://grafana:3000/d/warden-operations?var-tenant=acme&var-workflow=refund_ticket"
    assert am.identity_key(runaway("run-1")) == am.identity_key(runaway("run-2"))


def test_one_label_set_stays_firing_until_its_last_alert_resolves() -> None:
    members: dict[str, Alert] = {}
    am.transition(members, runaway("run-1"), NOW, URL)
    two = am.transition(members, runaway("run-2", first=30), NOW, URL)
    assert "endsAt" not in two and two["annotations"]["warden_alerts"] == "2"  # type: ignore[index]
    assert two["startsAt"] == "2026-11-02T08:00:00.000Z"  # the earliest of them
    still = am.transition(members, runaway("run-1", "resolved"), NOW, URL)
    assert "endsAt" not in still and list(members) == ["a-run-2"]
    done = am.transition(members, runaway("run-2", "resolved"), NOW, URL)
    assert members == {} and done["endsAt"] == "2026-11-02T08:05:00.000Z"  # when Warden resolved it
    assert done["annotations"]["resolved_because"] == "run completed"  # type: ignore[index]


def test_times_are_never_ahead_of_the_wall_clock() -> None:
    """Event time can run ahead (the demo's runs 500 times faster): Alertmanager must see it resolved now."""
    early = NOW - timedelta(hours=2)
    body = am.postable([runaway("run-1", "resolved")], early, URL, am.resolved_at(runaway("run-1", "resolved")))
    assert body["startsAt"] == body["endsAt"] == "2026-11-02T07:00:00.000Z"


def test_reposts_keep_what_fires_and_resolve_what_no_record_refreshed() -> None:
    now = NOW.timestamp()
    live = am.Firing(am.identity_key(runaway("run-1")), runaway("run-1"), now - 10)
    budget = Alert(alert_id="b-1", kind=AlertKind.BUDGET_EXCEEDED, severity=Severity.TICKET, tenant_id="acme",
                   workflow="*", summary="daily budget at 80%", first_seen=at(0), last_seen=at(0), count=1,
                   rule="budget_soft", fingerprint="budget_soft:tenant:acme")
    stale = am.Firing(am.identity_key(budget), budget, now - 7300)
    bodies, expired = am.reposts([live, stale], now, 7200, "")
    assert expired == [stale]
    by_name = {b["labels"]["alertname"]: b for b in bodies}  # type: ignore[index]
    assert "endsAt" not in by_name["runaway_steps"] and "generatorURL" not in by_name["runaway_steps"]
    assert by_name["budget_exceeded"]["endsAt"] == "2026-11-02T09:00:00.000Z"
    assert "WARDEN_ALERTMANAGER_FIRING_TTL_S" in by_name["budget_exceeded"]["annotations"]["resolved_because"]  # type: ignore[index]


def test_the_alerts_api_url() -> None:
    assert am.alerts_url("http://am:9093") == am.alerts_url("http://am:9093/api/v2/alerts/") \
        == "http://am:9093/api/v2/alerts"
