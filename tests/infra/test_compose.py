"""Docker cannot run here, so the distributed deployment is checked by reading it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from warden.approvals.settings import ApprovalsSettings
from warden.cli.main import app
from warden.ledger_sink.settings import LedgerSinkSettings
from warden.policy_evaluator.settings import PolicyEvaluatorSettings
from warden.stack import SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES_IN_COMPOSE: dict[str, Any] = COMPOSE["services"]
WARDEN = {name: svc for name, svc in SERVICES_IN_COMPOSE.items() if "build" in svc}
PINNED = re.compile(r"^[\w./-]+:\d+(\.\d+)+[\w.-]*$")


SETTINGS = (LedgerSinkSettings, PolicyEvaluatorSettings, ApprovalsSettings)


def setting_names() -> set[str]:
    names: set[str] = set()
    for settings in SETTINGS:
        names.update(f"WARDEN_{name.upper()}" for name in settings.model_fields)
        for field in settings.model_fields.values():
            names.update(getattr(field.validation_alias, "choices", []) or [])
    return names


def test_every_image_is_pinned_to_an_exact_version() -> None:
    for name, svc in SERVICES_IN_COMPOSE.items():
        assert PINNED.match(svc["image"]), (name, svc["image"])
    base = re.search(r"^FROM (\S+)", (ROOT / "infra" / "Dockerfile").read_text(), re.M)
    assert base and PINNED.match(base.group(1)), base


def test_every_warden_service_runs_a_real_cli_command() -> None:
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    assert WARDEN
    for name, svc in WARDEN.items():
        command = svc["command"]
        assert command[0] in commands, (name, command)
        if command[0] == "run":
            assert command[1] in SERVICES, (name, command)
    assert {svc["command"][1] for svc in WARDEN.values() if svc["command"][0] == "run"} == set(SERVICES)


def test_every_warden_container_has_what_it_needs_and_nothing_unknown() -> None:
    known = setting_names()
    for name, svc in WARDEN.items():
        env = svc["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092", name
        assert env["CLICKHOUSE_URL"].startswith("http://clickhouse:"), name
        assert "warden-data:/data" in svc["volumes"]  # the file schema registry is shared
        unknown = set(env) - known
        assert not unknown, (name, unknown)
        assert "${" in env["WARDEN_CLICKHOUSE_PASSWORD"]  # from the environment, not committed


@pytest.mark.parametrize("name", ["kafka", "clickhouse", "grafana"])
def test_infrastructure_has_health_checks(name: str) -> None:
    assert SERVICES_IN_COMPOSE[name]["healthcheck"]["test"]


def test_services_wait_for_healthy_dependencies() -> None:
    for name, svc in WARDEN.items():
        depends = svc["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy", name
        if name != "topics":
            assert depends["clickhouse"]["condition"] == "service_healthy", name
            assert depends["topics"]["condition"] == "service_completed_successfully", name


def test_kafka_runs_kraft_without_auto_created_topics() -> None:
    env = SERVICES_IN_COMPOSE["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_grafana_provisioning_points_at_the_clickhouse_service() -> None:
    source = yaml.safe_load((ROOT / "infra/grafana/provisioning/datasources/clickhouse.yaml").read_text())
    ds = source["datasources"][0]
    assert ds["type"] == "grafana-clickhouse-datasource"
    assert ds["jsonData"]["host"] == "clickhouse"
    boards = yaml.safe_load((ROOT / "infra/grafana/provisioning/dashboards/warden.yaml").read_text())
    assert boards["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert "./dashboards:/var/lib/grafana/dashboards:ro" in SERVICES_IN_COMPOSE["grafana"]["volumes"]
