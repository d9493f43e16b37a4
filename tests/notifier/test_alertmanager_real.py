"""The notifier against Debian's real Alertmanager (prometheus-alertmanager 0.25), as an on-call team runs it.

Warden posts to Alertmanager's /api/v2/alerts like any source; the test reads the alert back from
Alertmanager's API while it fires (labels bounded, the run id an annotation, re-posted), then sees it
resolved: gone from the API's active alerts and notified as resolved by Alertmanager itself, to a
webhook receiver of its configuration (a loopback server of this test).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.alerting.events import at
from tests.ledger_sink.helpers import wait_for
from tests.notifier.receiver import Receiver
from tests.notifier.test_service import notifier_settings, publish, running
from warden.broker.tansu import free_port
from warden.core.records import Alert, AlertKind, Severity
from warden.core.settings import WardenSettings
from warden.notifier import formats

pytestmark = pytest.mark.integration
INSTALL_HINT = ("Alertmanager is missing: `make test` installs Debian's package "
                "(apt-get install -y prometheus-alertmanager)")


def alertmanager_binary() -> str:
    for name in ("prometheus-alertmanager", "alertmanager"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(INSTALL_HINT)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, Receiver]]:
    """Alertmanager on a loopback port, with a temp config and storage, notifying a loopback webhook."""
    hook = Receiver().start()
    config = tmp_path / "alertmanager.yml"
    config.write_text(f"""
global:
  resolve_timeout: 5m
route:
  receiver: oncall
  group_by: [alertname, tenant_id, workflow]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: oncall
    webhook_configs:
      - url: {hook.url}
        send_resolved: true
""")
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [alertmanager_binary(), f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=info"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
        try:
            return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, timeout_s=30, what="Alertmanager to be ready")
        yield url, hook
    finally:
        process.terminate()
        process.wait(10)
        log.close()
        hook.stop()


def page(status: str = "firing", count: int = 51) -> Alert:
    labels = {"resolved_at": "2026-11-02T08:05:00.000Z", "resolved_because": "the run ended"} \
        if status == "resolved" else {}
    return Alert(alert_id="a-runaway-1", kind=AlertKind.RUNAWAY_STEPS, severity=Severity.PAGE, tenant_id="acme",
                 workflow="refund_ticket", run_id="run-7f3a", summary="run run-7f3a passed its step limit (50)",
                 first_seen=at(0), last_seen=at(60), count=count, rule="step_limit", fingerprint="fp-runaway",
                 status=status, value=float(count), threshold=50.0, labels=labels)


def ours(url: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v2/alerts", params={"filter": 'service="warden"'}, timeout=5)
    answer.raise_for_status()
    alerts: list[dict[str, Any]] = answer.json()
    return alerts


def test_alertmanager_gets_the_alert_firing_re_posted_then_resolved(
        topics: WardenSettings, alertmanager: tuple[str, Receiver]) -> None:
    url, hook = alertmanager
    settings = notifier_settings(topics, alertmanager_url=url, alertmanager_repost_s=1.0,
                                 alertmanager_generator_url="http://grafana.test/d/warden-operations?var-tenant="
                                                            "{tenant_id}")
    with running(settings) as service:
        publish(topics, [page()])
        wait_for(lambda: len(ours(url)) == 1, timeout_s=30, what="the alert in Alertmanager's API")
        [alert] = ours(url)
        assert alert["status"]["state"] == "active"
        assert alert["labels"] == {"alertname": "runaway_steps", "rule": "step_limit", "severity": "page",
                                   "tenant_id": "acme", "workflow": "refund_ticket", "service": "warden"}
        assert alert["annotations"]["run_id"] == "run-7f3a" and alert["annotations"]["alert_id"] == "a-runaway-1"
        assert alert["annotations"]["summary"] == "run run-7f3a passed its step limit (50)"
        assert alert["generatorURL"] == "http://grafana.test/d/warden-operations?var-tenant=acme"
        assert alert["startsAt"].startswith("2026-11-02T08:00:00")
        assert [r["name"] for r in alert["receivers"]] == ["oncall"]

        # Re-posted while it fires (Alertmanager would resolve it after resolve_timeout otherwise).
        first_update = alert["updatedAt"]
        wait_for(lambda: ours(url)[0]["updatedAt"] != first_update, timeout_s=15, what="a re-post")
        assert service.workers["alertmanager"].counters["reposts"] >= 1
        wait_for(lambda: any(b["status"] == "firing" for b in hook.received()), timeout_s=20,
                 what="Alertmanager's firing notification")

        publish(topics, [page("resolved")])
        wait_for(lambda: ours(url) == [], timeout_s=30, what="the alert to leave Alertmanager's active alerts")
        wait_for(lambda: any(b["status"] == "resolved" for b in hook.received()), timeout_s=20,
                 what="Alertmanager's resolved notification")
        assert service.outbox.pending() == 0 and service.outbox.parked() == 0
        assert service.outbox.firing("alertmanager") == []

    resolved = next(b for b in hook.received() if b["status"] == "resolved")
    [sent] = resolved["alerts"]
    assert sent["labels"]["alertname"] == "runaway_steps" and sent["annotations"]["run_id"] == "run-7f3a"
    assert sent["endsAt"].startswith("2026-11-02T08:05:00")  # when Warden resolved it, as posted
    # What Alertmanager sends its webhook receivers is what WARDEN_WEBHOOK_URL sends: the same fields.
    webhook = formats.alertmanager_webhook(page("resolved"), "oncall")
    assert set(webhook) == set(resolved) and set(webhook["alerts"][0]) == set(sent)
