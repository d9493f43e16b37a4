"""Docker cannot run here, so the distributed deployment is checked by reading it."""

from __future__ import annotations

import importlib
import inspect
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from typer.main import get_command

import warden
from warden.cli.main import app
from warden.cli.stack import _services
from warden.core.catalog import SCHEMAS_DIR
from warden.core.settings import WardenSettings
from warden.dashboards.grafana import DATASOURCE_FILE
from warden.dashboards.model import DASHBOARDS_DIR
from warden.ledger.migrations import MIGRATIONS_DIR
from warden.policy.bundle import DEFAULT_POLICIES
from warden.stack import OPTIONAL_SERVICES, SERVICES
from warden.tool_proxy.inventory import DEFAULT_INVENTORY

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES_IN_COMPOSE: dict[str, Any] = COMPOSE["services"]
WARDEN = {name: svc for name, svc in SERVICES_IN_COMPOSE.items() if "build" in svc}
PINNED = re.compile(r"^[\w./-]+:v?\d+(\.\d+)+[\w.-]*$")  # prom/prometheus tags are v2.53.3
DOCKERFILE = (ROOT / "infra" / "Dockerfile").read_text()


# The CLI's service table (what `warden run SERVICE` accepts) is the list every check below runs over:
# a service added there without a compose container fails these tests.
CLI_SERVICES = sorted(_services())
# What any service needs in a container: the cluster, the ClickHouse server and its credentials, the shared
# data dir (file schema registry).
NEEDED_BY_EVERY = {"KAFKA_BOOTSTRAP_SERVERS", "CLICKHOUSE_URL", "WARDEN_CLICKHOUSE_USER",
                   "WARDEN_CLICKHOUSE_PASSWORD", "WARDEN_DATA_DIR"}


def settings_of(service: str) -> type[WardenSettings]:
    """Each service folder has settings.py with its one settings class (the charter's layout)."""
    module = importlib.import_module(f"warden.{service.replace('-', '_')}.settings")
    found = [c for c in vars(module).values() if inspect.isclass(c) and issubclass(c, WardenSettings)
             and c.__module__ == module.__name__]
    assert len(found) == 1, (service, found)
    return found[0]


def env_names(settings: type[WardenSettings], field: str) -> set[str]:
    info = settings.model_fields[field]
    return {f"WARDEN_{field.upper()}", *(getattr(info.validation_alias, "choices", []) or [])}


def setting_names(settings: type[WardenSettings]) -> set[str]:
    return {name for field in settings.model_fields for name in env_names(settings, field)}


def needed(settings: type[WardenSettings]) -> set[frozenset[str]]:
    """Settings a container must set (any one of each set of names): required ones, and the service's own
    bind addresses (loopback by default, unreachable from other containers)."""
    out = set()
    for field, info in settings.model_fields.items():
        own = field not in WardenSettings.model_fields
        if info.is_required() or (own and field.endswith("_host")):
            out.add(frozenset(env_names(settings, field)))
    return out


def secrets(settings: type[WardenSettings]) -> set[str]:
    return {name for field, info in settings.model_fields.items()
            if SecretStr in typing.get_args(info.annotation) or "SecretStr" in str(info.annotation)
            for name in env_names(settings, field)}


def test_every_image_is_pinned_to_an_exact_version() -> None:
    for name, svc in SERVICES_IN_COMPOSE.items():
        assert PINNED.match(svc["image"]), (name, svc["image"])
    base = re.search(r"^FROM (\S+)", (ROOT / "infra" / "Dockerfile").read_text(), re.M)
    assert base and PINNED.match(base.group(1)), base


def runs() -> dict[str, str]:
    """compose service -> the Warden service it runs (`warden run SERVICE`)."""
    return {name: svc["command"][1] for name, svc in WARDEN.items() if svc["command"][0] == "run"}


def test_every_warden_service_runs_a_real_cli_command() -> None:
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    assert WARDEN
    for name, svc in WARDEN.items():
        command = svc["command"]
        assert command[0] in commands, (name, command)
        if command[0] == "run":
            assert command[1] in CLI_SERVICES, (name, command)


def test_every_service_in_the_cli_table_has_one_container_named_after_it() -> None:
    assert sorted(runs().values()) == CLI_SERVICES
    assert all(compose_name == service for compose_name, service in runs().items())
    assert set(SERVICES + OPTIONAL_SERVICES) <= set(CLI_SERVICES)  # what `warden up` starts can also be deployed


@pytest.mark.parametrize("service", CLI_SERVICES)
def test_every_container_sets_what_its_service_needs_and_nothing_unknown(service: str) -> None:
    svc = WARDEN[service]
    env = svc["environment"]
    settings = settings_of(service)
    for names in {frozenset([n]) for n in NEEDED_BY_EVERY} | needed(settings):
        assert names & set(env), (service, "must set one of", sorted(names))
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092", service
    assert env["CLICKHOUSE_URL"].startswith("http://clickhouse:"), service
    assert "warden-data:/data" in svc["volumes"]  # the file schema registry is shared
    unknown = set(env) - setting_names(settings)
    assert not unknown, (service, unknown)
    for name in secrets(settings) & set(env):
        assert str(env[name]).startswith("${"), (service, name)  # from the environment, never committed
    for field in settings.model_fields:
        if field.endswith("_host") and field not in WardenSettings.model_fields:
            assert env[f"WARDEN_{field.upper()}"] == "0.0.0.0", (service, field)  # reachable from other containers


@pytest.mark.parametrize("service", CLI_SERVICES)
def test_every_service_scales_by_replicas(service: str) -> None:
    svc = WARDEN[service]
    assert "entrypoint" not in svc and re.search(r'^ENTRYPOINT \["warden"\]$', DOCKERFILE, re.M)
    assert svc["command"] == ["run", service]  # `warden run SERVICE` is the container's entrypoint
    assert int(svc.get("deploy", {}).get("replicas", 1)) >= 1
    assert "container_name" not in svc  # a fixed name allows one container only


@pytest.mark.parametrize("name", ["kafka", "clickhouse", "grafana", "prometheus"])
def test_infrastructure_has_health_checks(name: str) -> None:
    assert SERVICES_IN_COMPOSE[name]["healthcheck"]["test"]


def test_grafana_reads_the_ledger_as_a_read_only_user_created_on_first_start() -> None:
    clickhouse, grafana = SERVICES_IN_COMPOSE["clickhouse"], SERVICES_IN_COMPOSE["grafana"]
    assert "./infra/clickhouse/initdb:/docker-entrypoint-initdb.d:ro" in clickhouse["volumes"]
    script = (ROOT / "infra/clickhouse/initdb/10-grafana-reader.sh").read_text()
    assert "readonly = 1" in script and "GRANT SELECT ON warden.* TO grafana" in script
    assert "${GRAFANA_CLICKHOUSE_PASSWORD}" in script
    source = yaml.safe_load(DATASOURCE_FILE.read_text())["datasources"][0]
    assert source["jsonData"]["username"] == "grafana"
    assert source["secureJsonData"]["password"] == "$GRAFANA_CLICKHOUSE_PASSWORD"
    for svc in (clickhouse, grafana):
        assert "${GRAFANA_CLICKHOUSE_PASSWORD" in svc["environment"]["GRAFANA_CLICKHOUSE_PASSWORD"]
    assert grafana["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DASHBOARDS_DIR / Path(home).name).is_file() and home.startswith("/var/lib/grafana/dashboards/")


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
    # Files a service's settings point at by default (price table, budgets...) are read from the tree too.
    defaults = {info.default if info.default.is_dir() else info.default.parent for service in CLI_SERVICES
                for info in settings_of(service).model_fields.values()
                if isinstance(info.default, Path) and info.default.is_absolute()}
    for folder in {SCHEMAS_DIR, MIGRATIONS_DIR, DEFAULT_POLICIES, DASHBOARDS_DIR, DATASOURCE_FILE.parent,
                   DEFAULT_INVENTORY.parent, *defaults}:
        rel = folder.relative_to(source_root)
        assert folder.is_dir(), folder
        assert any(rel == Path(src) or Path(src) in rel.parents for src in copied), (rel, copied)
        assert not any(Path(i) == rel or Path(i) in rel.parents for i in ignored if i), rel
    assert {".venv", ".warden", ".git"} <= ignored


def test_image_runs_warden_as_a_non_root_user() -> None:
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users and users[-1] not in {"root", "0"}, users
    assert re.search(r'^ENTRYPOINT \["warden"\]$', DOCKERFILE, re.M)
    assert re.search(r'^CMD \["run", "ledger-sink"\]$', DOCKERFILE, re.M)


def test_prometheus_scrapes_every_service_on_the_port_each_container_serves_metrics_on() -> None:
    env = COMPOSE["x-warden-service"]["environment"]
    assert env["WARDEN_METRICS_HOST"] == "0.0.0.0" and env["WARDEN_METRICS_PORT"] == "9464"
    for name, svc in WARDEN.items():  # a container with its own environment keeps the shared one
        assert svc["environment"]["WARDEN_METRICS_PORT"] == "9464", name
    config = yaml.safe_load((ROOT / "infra" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["dns_sd_configs"][0] for job in config["scrape_configs"]}
    assert set(jobs) == set(runs().values()) == set(CLI_SERVICES)
    assert all(sd["names"] == [name] and sd["port"] == 9464 for name, sd in jobs.items())
    mounted = SERVICES_IN_COMPOSE["prometheus"]["volumes"][0]
    assert mounted.startswith("./infra/prometheus/prometheus.yml:")
