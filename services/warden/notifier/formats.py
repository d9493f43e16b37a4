"""An Alert in each receiver's own wire format (payloads checked against the vendors' docs).

- Alertmanager's webhook body (version "4"): what Alertmanager itself POSTs to a webhook_config
  receiver, one alert per message, for receivers built to take Alertmanager's notifications
  (WARDEN_WEBHOOK_URL). Alertmanager itself takes alerts from sources in another format, the v2
  alerts array (alertmanager.py, WARDEN_ALERTMANAGER_URL).
- Slack incoming webhook: ``text`` (the notification fallback) plus Block Kit ``blocks``.
- PagerDuty Events API v2: trigger / resolve with ``dedup_key`` = the alert's fingerprint-derived
  alert_id, so a resolve closes the incident its trigger opened. The routing key is added at
  send time, never stored in the outbox.
"""

from __future__ import annotations

from typing import Any

from warden.core.events import iso_millis
from warden.core.records import Alert, Severity

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "no end yet"
PD_SEVERITY = {Severity.PAGE: "critical", Severity.TICKET: "warning", Severity.INFO: "info"}
SLACK_ICON = {Severity.PAGE: ":rotating_light:", Severity.TICKET: ":warning:", Severity.INFO: ":information_source:"}


def labels(alert: Alert) -> dict[str, str]:
    out = {"alertname": alert.kind.value, "rule": alert.rule, "severity": alert.severity.value,
           "tenant_id": alert.tenant_id, "workflow": alert.workflow, "service": "warden"}
    if alert.tool:
        out["tool"] = alert.tool
    return out  # a run id is an annotation: one label value per run would make every run its own alert


def details(alert: Alert) -> dict[str, Any]:
    return {"alert_id": alert.alert_id, "fingerprint": alert.fingerprint, "count": alert.count,
            "first_seen": iso_millis(alert.first_seen), "last_seen": iso_millis(alert.last_seen),
            "value": alert.value, "threshold": alert.threshold, **{f"label_{k}": v for k, v in alert.labels.items()}}


def alertmanager_webhook(alert: Alert, receiver: str) -> dict[str, Any]:
    alert_labels = labels(alert)
    resolved = alert.status == "resolved"
    annotations = {"summary": alert.summary, "count": str(alert.count),
                   "value": "" if alert.value is None else f"{alert.value:g}",
                   "threshold": "" if alert.threshold is None else f"{alert.threshold:g}", "alert_id": alert.alert_id,
                   **({"run_id": alert.run_id} if alert.run_id else {})}
    group_labels = {"alertname": alert_labels["alertname"], "tenant_id": alert.tenant_id}
    return {
        "version": "4",
        "groupKey": "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group_labels.items())) + "}",
        "truncatedAlerts": 0,
        "status": alert.status,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": alert_labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [{
            "status": alert.status,
            "labels": alert_labels,
            "annotations": annotations,
            "startsAt": iso_millis(alert.first_seen),
            "endsAt": iso_millis(alert.last_seen) if resolved else ZERO_TIME,
            "generatorURL": "",
            "fingerprint": alert.fingerprint,
        }],
    }


def _escape(text: str) -> str:
    """Slack reads &, < and > as markup (<!channel> would ping everyone)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(alert: Alert) -> dict[str, Any]:
    head = "RESOLVED" if alert.status == "resolved" else alert.severity.value.upper()
    title = (f"{SLACK_ICON[alert.severity]} [{head}] {alert.kind.value} ({alert.rule}) — "
             f"{alert.tenant_id}/{alert.workflow}")
    facts = [f"*count* {alert.count}", f"*first seen* {iso_millis(alert.first_seen)}",
             f"*last seen* {iso_millis(alert.last_seen)}"]
    if alert.value is not None:
        facts.append(f"*value* {alert.value:g}" + (f" (threshold {alert.threshold:g})" if alert.threshold else ""))
    if alert.tool:
        facts.append(f"*tool* {_escape(alert.tool)}")
    if alert.run_id:
        facts.append(f"*run* {_escape(alert.run_id)}")
    return {
        "text": _escape(f"{title}: {alert.summary}")[:3000],
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": _escape(title)[:3000]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _escape(alert.summary)[:3000]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(facts)[:3000]}]},
        ],
    }


def pagerduty(alert: Alert) -> dict[str, Any]:
    """Without routing_key (added at send time)."""
    if alert.status == "resolved":
        return {"event_action": "resolve", "dedup_key": alert.alert_id}
    return {
        "event_action": "trigger",
        "dedup_key": alert.alert_id,
        "payload": {
            "summary": alert.summary[:1024],
            "source": f"warden/{alert.tenant_id}/{alert.workflow}",
            "severity": PD_SEVERITY[alert.severity],
            "timestamp": iso_millis(alert.last_seen),
            "component": alert.workflow,
            "group": alert.tenant_id,
            "class": alert.kind.value,
            "custom_details": details(alert),
        },
    }
