"""The alert rules as pure functions: pages, tickets, grouping, re-notify and resolve."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from tests.alerting.events import completed, decision, event, llm, requested, tool_error
from warden.alerting.config import AlertRules, Thresholds
from warden.anomaly_alerter.processor import Alerter
from warden.core.records import Alert, AlertKind, Decision, Severity


def run(records: Iterable[BaseModel], rules: AlertRules | None = None) -> tuple[Alerter, list[Alert]]:
    rules = rules or AlertRules()
    alerter = Alerter.new(rules)
    out: list[Alert] = []
    for record in records:
        out += alerter.step(rules, record)
    return alerter, out


def test_five_errors_of_one_tool_in_five_minutes_page_once_and_grow() -> None:
    errors = [tool_error(t, run=f"r{t}") for t in (0, 30, 60, 90, 120, 150, 160)]
    _, alerts = run(errors)
    assert len(alerts) == 1  # re-notify is 30 min: the sixth and seventh only grow it
    alert = alerts[0]
    assert (alert.kind, alert.severity, alert.rule, alert.tool) == (
        AlertKind.REPEATED_TOOL_FAILURES, Severity.PAGE, "tool_error_burst", "payments")
    assert alert.count == 5 and alert.status == "firing"


def test_four_errors_or_errors_spread_out_do_not_page() -> None:
    assert run([tool_error(t) for t in (0, 30, 60, 90)])[1] == []
    assert run([tool_error(t) for t in (0, 100, 200, 301, 420, 700)])[1] == []
    # another tenant's errors do not add up with acme's
    mixed = [tool_error(t, tenant="acme" if t % 2 else "globex") for t in range(8)]
    assert run(mixed)[1] == []


def test_failures_resolve_when_the_window_clears_and_re_notify_after_the_interval() -> None:
    rules = AlertRules(renotify_s=60)
    records = [tool_error(t) for t in range(0, 50, 10)] + [tool_error(100), tool_error(105)]
    records.append(llm(500, None))  # later event time: the window has emptied
    _, alerts = run(records, rules)
    assert [(a.status, a.count) for a in alerts] == [("firing", 5), ("firing", 6), ("resolved", 7)]
    assert len({a.alert_id for a in alerts}) == 1
    assert alerts[-1].last_seen < alerts[-1].first_seen.replace(minute=9)


def test_runaway_run_pages_past_its_limit_and_resolves_when_it_ends() -> None:
    rules = AlertRules(workflows={"export_report": Thresholds(runaway_step_limit=3)})
    steps = [event("llm_call", {"model": "m", "provider": "p", "input_tokens": 1, "output_tokens": 1,
                                "latency_ms": 1.0}, s, step=s, workflow="export_report") for s in range(1, 7)]
    steps.append(completed(7, "failed", step=7, workflow="export_report"))
    _, alerts = run(steps, rules)
    assert [(a.kind, a.status) for a in alerts] == [(AlertKind.RUNAWAY_STEPS, "firing"),
                                                   (AlertKind.RUNAWAY_STEPS, "resolved")]
    assert alerts[0].value == 4 and alerts[0].threshold == 3 and alerts[0].run_id == "run-1"
    assert alerts[1].count == 4  # steps 4, 5, 6 and 7
    assert run(steps)[1] == []  # the default limit is 50


def test_out_of_inventory_and_stop_ship_denies_page_other_denies_do_not() -> None:
    outsider = requested(1, "iam", "grant_access", "c1")
    delete = requested(2, "crm", "delete_record", "c2", run="run-2")
    plain = requested(3, "reports", "export", "c3", run="run-3")
    records: list[BaseModel] = [
        outsider, decision(outsider, Decision.DENY, ["out-of-inventory"], stop_ship=True),
        delete, decision(delete, Decision.DENY, ["deletes-denied-v1"], stop_ship=True),
        plain, decision(plain, Decision.DENY, ["export-over-1000-rows"]),
    ]
    _, alerts = run(records)
    assert [(a.kind, a.rule, a.tool) for a in alerts] == [
        (AlertKind.UNAUTHORIZED_ACTION, "out_of_inventory", "iam.grant_access"),
        (AlertKind.UNAUTHORIZED_ACTION, "stop_ship", "crm.delete_record")]
    assert all(a.severity == Severity.PAGE and a.workflow == "refund_ticket" for a in alerts)
    assert alerts[1].labels["policy_ids"] == "deletes-denied-v1"


def test_a_flood_of_the_same_unauthorized_action_is_one_alert_whose_count_grows() -> None:
    records: list[BaseModel] = []
    for i in range(20):
        req = requested(i, "iam", "grant_access", f"c{i}", run=f"run-{i}")
        records += [req, decision(req, Decision.DENY, ["out-of-inventory"])]
    records.append(requested(2000, "crm", "lookup", "later"))  # 15 quiet minutes later, on the same lane
    state, alerts = run(records)
    assert [(a.status, a.count) for a in alerts] == [("firing", 1), ("resolved", 20)]
    assert alerts[0].alert_id == alerts[1].alert_id
    assert "no new occurrence" in alerts[1].labels["resolved_because"]
    assert list(state.lanes["decisions"].rules.calls) == ["later"]  # decided requests are dropped


def test_a_tenants_spend_far_above_its_own_baseline_is_a_ticket() -> None:
    records = [llm(i * 300 + 10, 0.10, tenant="acme") for i in range(12)]  # 12 buckets at $0.10
    records += [llm(12 * 300 + 10 + i, 1.0, tenant="acme") for i in range(3)]  # $3 in the 13th
    _, alerts = run(records)
    assert len(alerts) == 1
    spike = alerts[0]
    assert (spike.kind, spike.severity, spike.rule, spike.tenant_id) == (
        AlertKind.COST_SPIKE, Severity.TICKET, "spend_rate_baseline", "acme")
    assert spike.value is not None and spike.threshold is not None and spike.value > spike.threshold


def test_steady_or_noisy_spend_does_not_fire_and_unpriced_calls_are_not_zero() -> None:
    steady = [llm(i * 300 + 10, 0.10 + 0.02 * (i % 3)) for i in range(30)]
    assert run(steady)[1] == []
    state, alerts = run([llm(i * 300, None) for i in range(10)])
    events = state.lanes["events"].rules
    assert alerts == [] and events.unpriced_calls == 10 and not events.spend


def test_a_spike_resolves_when_a_whole_bucket_is_back_under_the_limit() -> None:
    records = [llm(i * 300 + 10, 0.10) for i in range(12)]
    records += [llm(3610 + i, 1.0) for i in range(3)]
    records += [llm(3900 + 10, 0.10), llm(4200 + 10, 0.10)]
    _, alerts = run(records)
    assert [a.status for a in alerts] == ["firing", "resolved"]


def test_a_workflows_success_rate_drop_against_its_baseline_is_a_ticket() -> None:
    records = []
    for bucket in range(6):
        for i in range(10):
            status = "failed" if (bucket == 5 and i < 7) or (bucket < 5 and i == 0) else "succeeded"
            records.append(completed(bucket * 900 + i, status, run=f"r{bucket}-{i}"))
    records.append(llm(6 * 900 + 5, None))  # closes the sixth bucket
    _, alerts = run(records)
    assert [(a.kind, a.rule, a.status) for a in alerts] == [
        (AlertKind.SUCCESS_RATE_DROP, "success_rate_baseline", "firing")]
    assert alerts[0].value == 0.3 and alerts[0].workflow == "refund_ticket"


def test_policy_denies_far_above_their_baseline_are_a_ticket() -> None:
    records: list[BaseModel] = []
    n = 0
    for bucket in range(6):
        denies = 12 if bucket == 5 else 1
        for i in range(denies):
            n += 1
            req = requested(bucket * 900 + i, "reports", "export", f"c{n}", run=f"r{n}", workflow="export_report")
            records += [req, decision(req, Decision.DENY, ["export-over-1000-rows"])]
    _, alerts = run(records)
    assert [(a.kind, a.workflow) for a in alerts] == [(AlertKind.POLICY_BLOCK_SPIKE, "export_report")]
    assert alerts[0].value is not None and alerts[0].value > 5


def test_the_same_records_give_the_same_alert_ids() -> None:
    records = [tool_error(t) for t in range(0, 50, 10)]
    assert [a.alert_id for a in run(records)[1]] == [a.alert_id for a in run(records)[1]]
