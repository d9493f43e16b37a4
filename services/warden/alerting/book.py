"""Alert grouping: one alert per fingerprint, whose count and last_seen grow while it fires.

An alert is emitted when it starts, again when it has grown and at least ``renotify_s`` of
event time passed since it was last emitted, and once more when its condition clears
(status resolved). Every emitted record has a distinct ledger id (alert_id:count, plus
:resolved), and alert_id is derived from the fingerprint and the first occurrence, so a
replay of the same events emits the same records.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from warden.core.events import iso_millis
from warden.core.records import Alert, AlertKind, Severity

_ALERTS = uuid.UUID("2b8f0e51-7c3a-4d29-b6e4-91a0d5c37f12")


def fingerprint(kind: AlertKind, rule: str, tenant_id: str, workflow: str, subject: str = "") -> str:
    """What makes two occurrences "the same failure": kind, rule, tenant, workflow and the subject
    (a tool, a run), never the time or the count."""
    text = "|".join((kind.value, rule, tenant_id, workflow, subject))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alert_id(fp: str, first_seen: datetime) -> str:
    return str(uuid.uuid5(_ALERTS, f"{fp}|{iso_millis(first_seen)}"))


@dataclass
class Group:
    """A firing alert: the last record emitted for it, plus what has accumulated since."""

    alert: Alert
    emitted_at: datetime  # event time of the last emission
    emitted_count: int
    quiet_resolve_s: float | None  # resolve after this long without an occurrence (None: the rule resolves it)


@dataclass
class AlertBook:
    renotify_s: float
    firing: dict[str, Group] = field(default_factory=dict)

    def observe(self, *, kind: AlertKind, severity: Severity, rule: str, tenant_id: str, workflow: str,
                subject: str, at: datetime, summary: str, increment: int = 1, value: float | None = None,
                threshold: float | None = None, run_id: str | None = None, tool: str | None = None,
                labels: dict[str, str] | None = None, quiet_resolve_s: float | None = None) -> Alert | None:
        """One more occurrence; returns the record to emit, if this occurrence warrants one."""
        fp = fingerprint(kind, rule, tenant_id, workflow, subject)
        group = self.firing.get(fp)
        if group is None:
            alert = Alert(alert_id=alert_id(fp, at), kind=kind, severity=severity, tenant_id=tenant_id,
                          workflow=workflow, run_id=run_id, tool=tool, summary=summary, first_seen=at,
                          last_seen=at, count=increment, rule=rule, fingerprint=fp, status="firing",
                          value=value, threshold=threshold, labels=labels or {})
            self.firing[fp] = Group(alert, at, alert.count, quiet_resolve_s)
            return alert
        current = group.alert
        group.alert = current.model_copy(update={
            "count": current.count + increment, "last_seen": max(at, current.last_seen), "summary": summary,
            "value": value, "threshold": threshold, "labels": {**current.labels, **(labels or {})}})
        if (at - group.emitted_at).total_seconds() >= self.renotify_s and group.alert.count > group.emitted_count:
            group.emitted_at, group.emitted_count = at, group.alert.count
            return group.alert
        return None

    def is_firing(self, kind: AlertKind, rule: str, tenant_id: str, workflow: str, subject: str = "") -> bool:
        return fingerprint(kind, rule, tenant_id, workflow, subject) in self.firing

    def resolve(self, kind: AlertKind, rule: str, tenant_id: str, workflow: str, subject: str, at: datetime,
                why: str) -> Alert | None:
        return self._resolve(fingerprint(kind, rule, tenant_id, workflow, subject), at, why)

    def _resolve(self, fp: str, at: datetime, why: str) -> Alert | None:
        group = self.firing.pop(fp, None)
        if group is None:
            return None
        alert = group.alert
        return alert.model_copy(update={
            "status": "resolved", "summary": f"resolved: {alert.summary}",
            "labels": {**alert.labels, "resolved_at": iso_millis(at), "resolved_because": why}})

    def resolve_quiet(self, now: datetime) -> list[Alert]:
        """Pages whose failure stopped happening: nothing new for their quiet period."""
        done = [fp for fp, g in self.firing.items()
                if g.quiet_resolve_s is not None and (now - g.alert.last_seen).total_seconds() >= g.quiet_resolve_s]
        out = []
        for fp in sorted(done):
            quiet = self.firing[fp].quiet_resolve_s
            resolved = self._resolve(fp, now, f"no new occurrence for {quiet:.0f} s")
            if resolved is not None:
                out.append(resolved)
        return out
