"""`warden dashboards push` against local HTTP servers: nothing listening, a wrong token, a Grafana."""

from __future__ import annotations

import subprocess

from tests.cli.test_up import clean_env
from tests.dashboards.fake_grafana import FakeGrafana
from warden.broker.tansu import free_port
from warden.dashboards.grafana import provisioned_datasource
from warden.dashboards.model import DATASOURCE_UID, load_all
from warden.stack import warden_command


def push(url: str, token: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(GRAFANA_CLICKHOUSE_PASSWORD="s3cret", COLUMNS="200")
    return subprocess.run([*warden_command(), "dashboards", "push", "--grafana-url", url, "--token", token, *extra],
                          env=env, capture_output=True, text=True, timeout=120)


def test_unreachable_grafana_is_reported_with_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    done = push(url, "any")
    assert done.returncode == 1
    assert f"Grafana at {url} is unreachable" in " ".join(done.stderr.split())
    assert "Connection refused" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_wrong_token_is_reported_as_refused() -> None:
    with FakeGrafana(token="right") as grafana:
        done = push(grafana.url, "wrong")
    assert done.returncode == 1
    assert f"Grafana at {grafana.url} refused the token" in " ".join(done.stderr.split()) and "401" in done.stderr
    assert "Traceback" not in done.stderr
    assert not grafana.datasources and not grafana.dashboards


def test_push_provisions_the_data_source_and_every_dashboard_and_is_repeatable() -> None:
    with FakeGrafana(token="right") as grafana:
        first = push(grafana.url, "right", "--clickhouse-host", "ch.internal")
        assert first.returncode == 0, first.stderr
        assert "data source warden-clickhouse created" in first.stdout
        second = push(grafana.url, "right", "--clickhouse-host", "ch.internal")
        assert second.returncode == 0, second.stderr
        assert "data source warden-clickhouse updated" in second.stdout
    source = grafana.datasources[DATASOURCE_UID]
    provisioned = provisioned_datasource()
    assert source["type"] == provisioned["type"] == "grafana-clickhouse-datasource"
    assert source["jsonData"] == {**provisioned["jsonData"], "host": "ch.internal"}
    assert source["jsonData"]["username"] == "grafana"  # the read-only user, never the services' writer
    assert source["secureJsonData"] == {"password": "s3cret"}
    assert set(grafana.dashboards) == {b.uid for b in load_all()}
    for board in load_all():
        pushed = grafana.dashboards[board.uid]
        assert pushed["folderUid"] == "warden" and pushed["overwrite"] is True
        assert pushed["dashboard"]["panels"] == board.raw["panels"]
