"""Docker cannot run here, so the distributed deployment is checked by reading it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

import warden
from warden.approvals.settings import ApprovalsSettings
from warden.cli.main import app
from warden.core.catalog import SCHEMAS_DIR
from warden.ledger.migrations import MIGRATIONS_DIR
from warden.ledger_sink.settings import LedgerSinkSettings
from warden.policy.bundle import DEFAULT_POLICIES
from warden.policy_evaluator.settings import PolicyEvaluatorSettings
from warden.stack import OPTIONAL_SERVICES, SERVICES
from warden.tool_proxy.inventory import DEFAULT_INVENTORY
from warden.tool_proxy.settings import ToolProxySettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES_IN_COMPOSE: dict[str, Any] = COMPOSE["services"]
WARDEN = {name: svc for name, svc in SERVICES_IN_COMPOSE.items() if "build" in svc}
PINNED = re.compile(r"^[\w./-]+:\d+(\.\d+)+[\w.-]*$")
DOCKERFILE = (ROOT / "infra" / "Dockerfile").read_text()


SETTINGS = (LedgerSinkSettings, PolicyEvaluatorSettings, ApprovalsSettings, ToolProxySettings)


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
            assert command[1] in SERVICES + OPTIONAL_SERVICES, (name, command)
    ran = {svc["command"][1] for svc in WARDEN.values() if svc["command"][0] == "run"}
    assert ran == set(SERVICES + OPTIONAL_SERVICES)


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


def test_kafka_keeps_its_log_in_its_volume_and_serves_containers_internally() -> None:
    kafka = SERVICES_IN_COMPOSE["kafka"]
    env = kafka["environment"]
    # Env-only config drops the image's server.properties: without log.dirs the volume stays empty.
    assert f"kafka-data:{env['KAFKA_LOG_DIRS']}" in kafka["volumes"]
    assert "INTERNAL://kafka:19092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert "kafka:19092" in " ".join(kafka["healthcheck"]["test"])


def test_named_volumes_are_declared() -> None:
    for svc in SERVICES_IN_COMPOSE.values():
        for mount in svc.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in COMPOSE["volumes"], mount


def test_grafana_plugin_version_is_pinned() -> None:
    plugins = SERVICES_IN_COMPOSE["grafana"]["environment"]["GF_INSTALL_PLUGINS"]
    assert re.fullmatch(r"grafana-clickhouse-datasource \d+\.\d+\.\d+", plugins), plugins


def test_image_holds_what_runtime_code_reads_from_the_source_tree() -> None:
    """schemas/, policies/ and the migrations are found relative to the source: install editable from /app."""
    assert re.search(r"^WORKDIR /app$", DOCKERFILE, re.M)
    assert re.search(r"pip install .*-e /app", DOCKERFILE)
    copied = [m.group(1) for m in re.finditer(r"^COPY (?:--\S+ )*(\S+) \S+$", DOCKERFILE, re.M)]
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    source_root = Path(warden.__file__).resolve().parents[2]  # what /app is in the image
    for needed in (SCHEMAS_DIR, MIGRATIONS_DIR, DEFAULT_POLICIES, DEFAULT_INVENTORY.parent):
        rel = needed.relative_to(source_root)
        assert needed.is_dir(), needed
        assert any(rel == Path(src) or Path(src) in rel.parents for src in copied), (rel, copied)
        assert not any(Path(i) == rel or Path(i) in rel.parents for i in ignored if i), rel
    assert {".venv", ".warden", ".git"} <= ignored


def test_image_runs_warden_as_a_non_root_user() -> None:
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users and users[-1] not in {"root", "0"}, users
    assert re.search(r'^ENTRYPOINT \["warden"\]$', DOCKERFILE, re.M)
    assert re.search(r'^CMD \["run", "ledger-sink"\]$', DOCKERFILE, re.M)
