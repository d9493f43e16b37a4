"""Warden's alerts as an Alertmanager *source*: the v2 alerts array POSTed to ``/api/v2/alerts``.

This is what Prometheus does, and what an on-call team connects: Alertmanager keys an alert by its
label set, keeps it active while the source re-posts it (an alert not re-posted within its
``resolve_timeout``, 5 minutes by default, resolves by itself) and resolves it when a post carries
an ``endsAt`` in the past. So:

- labels are the alert's bounded identity: alertname (the kind), rule, severity, tenant_id,
  workflow, tool and ``service="warden"``. A run id, counts, values and the alert's own labels are
  annotations: several Warden alerts (two runs over their step limit in one workflow) can be
  one Alertmanager alert, which stays firing until the last of them is resolved.
- a firing post has no ``endsAt`` (Alertmanager's resolve_timeout applies); the notifier re-posts
  every identity still firing every ``WARDEN_ALERTMANAGER_REPOST_S``, well within it.
- the resolve post carries ``endsAt``: when Warden resolved it, never later than the wall clock
  (an event time ahead of it would keep the alert active) nor before ``startsAt``.

Pure functions of (what is firing, the alert, the time); the worker does the HTTP and the SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from warden.core.events import iso_millis
from warden.core.records import Alert
from warden.notifier import formats

API_PATH = "/api/v2/alerts"


def alerts_url(base: str) -> str:
    """``http://am:9093`` or the full ``.../api/v2/alerts``: both post to the alerts API."""
    base = base.rstrip("/")
    return base if base.endswith(API_PATH) else base + API_PATH


def identity(alert: Alert) -> dict[str, str]:
    return formats.labels(alert)


def identity_key(alert: Alert) -> str:
    return json.dumps(identity(alert), sort_keys=True, separators=(",", ":"))


def notes_of(alert: Alert, members: int) -> dict[str, str]:
    out = {"summary": alert.summary, "alert_id": alert.alert_id, "fingerprint": alert.fingerprint,
           "count": str(alert.count), "first_seen": iso_millis(alert.first_seen),
           "last_seen": iso_millis(alert.last_seen)}
    if alert.run_id:
        out["run_id"] = alert.run_id
    if alert.value is not None:
        out["value"] = f"{alert.value:g}"
    if alert.threshold is not None:
        out["threshold"] = f"{alert.threshold:g}"
    if members > 1:
        out["warden_alerts"] = str(members)  # Warden alerts firing behind this one label set
    out.update({f"label_{k}": v for k, v in alert.labels.items()})
    return out


def _at(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def postable(members: Iterable[Alert], now: datetime, generator_url: str,
             resolved_at: datetime | None = None, why: str = "") -> dict[str, object]:
    """One postableAlert for the Warden alerts behind one label set (firing), or for the last of them
    (``resolved_at`` given). ``startsAt`` is the earliest first_seen, never after ``now``."""
    alerts = sorted(members, key=lambda a: (a.last_seen, a.alert_id))
    latest = alerts[-1]
    starts = min(min(_at(a.first_seen) for a in alerts), now)
    notes = notes_of(latest, len(alerts))
    if resolved_at is not None and why:
        notes["resolved_because"] = why
    body: dict[str, object] = {"labels": identity(latest), "annotations": notes, "startsAt": iso_millis(starts)}
    if generator_url:
        body["generatorURL"] = generator_url.format(tenant_id=quote(latest.tenant_id, safe=""),
                                                    workflow=quote(latest.workflow, safe=""))
    if resolved_at is not None:
        body["endsAt"] = iso_millis(max(starts, min(_at(resolved_at), now)))
    return body


def resolved_at(alert: Alert) -> datetime:
    """When the alert's source resolved it (its resolved_at label), else its last occurrence."""
    text = alert.labels.get("resolved_at")
    if text:
        try:
            return _at(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            pass
    return _at(alert.last_seen)


@dataclass(frozen=True)
class Firing:
    """One Warden alert firing behind an Alertmanager label set, and when a record last said so (wall clock)."""

    key: str
    alert: Alert
    refreshed_at: float


def transition(members: dict[str, Alert], alert: Alert, now: datetime, generator_url: str) -> dict[str, object]:
    """The post one alert record makes (``members``: what fires behind its label set, updated in place)."""
    if alert.status == "firing":
        members[alert.alert_id] = alert
        return postable(members.values(), now, generator_url)
    members.pop(alert.alert_id, None)
    if members:  # another Warden alert still fires behind the same labels
        return postable(members.values(), now, generator_url)
    return postable([alert], now, generator_url, resolved_at(alert), alert.labels.get("resolved_because", ""))


def reposts(firing: Iterable[Firing], now: float, ttl_s: float,
            generator_url: str) -> tuple[list[dict[str, object]], list[Firing]]:
    """Every label set still firing, posted again; members no record refreshed for ``ttl_s`` expire
    (alerts with no resolve of their own: a budget crossed, a rollback, a refused switch), and a label
    set whose members all expired is posted resolved now. Returns (bodies, expired)."""
    by_key: dict[str, list[Firing]] = {}
    for item in firing:
        by_key.setdefault(item.key, []).append(item)
    at = datetime.fromtimestamp(now, UTC)
    bodies, expired = [], []
    for key in sorted(by_key):
        live = [f for f in by_key[key] if now - f.refreshed_at < ttl_s]
        gone = [f for f in by_key[key] if now - f.refreshed_at >= ttl_s]
        expired += gone
        if live:
            bodies.append(postable([f.alert for f in live], at, generator_url))
        else:
            bodies.append(postable([f.alert for f in gone], at, generator_url, at,
                                   f"no record refreshed it for {ttl_s:.0f} s (WARDEN_ALERTMANAGER_FIRING_TTL_S)"))
    return bodies, expired
