"""`warden schemas register | list` as a person runs them: on the embedded file registry, and on the
Confluent REST API's contract stand-in (no real Confluent-compatible registry is installable here:
tests/core/confluent_contract.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli.test_up import clean_env
from tests.core.confluent_contract import contract_registry
from warden.broker.tansu import free_port
from warden.core.catalog import load_schemas
from warden.core.registry import FileSchemaRegistry
from warden.stack import warden_command

NAMES = sorted(load_schemas())


def schemas(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*warden_command(), "schemas", *args], capture_output=True, text=True, timeout=60,
                          env=clean_env(COLUMNS="200", **env))


def ids(done: subprocess.CompletedProcess[str]) -> dict[str, int]:
    assert done.returncode == 0, done.stderr
    pairs = [line.split("\t") for line in done.stdout.splitlines()]
    return {subject: int(schema_id) for subject, schema_id in pairs}


def listed(done: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_register_then_list_on_the_file_registry(tmp_path: Path) -> None:
    env = {"WARDEN_DATA_DIR": str(tmp_path)}
    empty = schemas("list", **env)
    assert empty.returncode == 0 and "not registered: warden.AgentEvent" in empty.stdout

    first = ids(schemas("register", **env))
    assert sorted(first) == NAMES and len(set(first.values())) == len(NAMES)
    assert ids(schemas("register", "warden.AgentEvent", **env)) == {"warden.AgentEvent": first["warden.AgentEvent"]}

    # A schema the registry holds that is not the one in schemas/ now: an older RiskScore, say.
    older = {**load_schemas()["warden.RiskScore"], "doc": "an older version"}
    older_id = FileSchemaRegistry(tmp_path / "schema-registry.json").register("warden.RiskScore", older)
    rows = listed(schemas("list", "--json", **env))
    assert {(r["subject"], r["version"], r["id"], r["schemas_dir"]) for r in rows} == {
        *((name, 1, first[name], "current") for name in NAMES), ("warden.RiskScore", 2, older_id, "other")}
    table = schemas("list", **env)
    assert "warden.AgentEvent" in table.stdout and "current" in table.stdout and "not registered" not in table.stdout


def test_register_then_list_on_the_confluent_api_contract() -> None:
    with contract_registry() as url:
        first = ids(schemas("register", SCHEMA_REGISTRY_URL=url))
        assert sorted(first) == NAMES
        rows = listed(schemas("list", "--json", SCHEMA_REGISTRY_URL=url))
    assert [(r["subject"], r["version"], r["id"], r["schemas_dir"]) for r in rows] == [
        (name, 1, first[name], "current") for name in NAMES]


def test_an_unknown_record_and_an_unreachable_registry_are_named() -> None:
    unknown = schemas("register", "warden.Nope")
    assert unknown.returncode == 2 and "no schema named warden.Nope" in unknown.stderr
    url = f"http://127.0.0.1:{free_port()}"
    for args in (("register",), ("list",)):
        down = schemas(*args, SCHEMA_REGISTRY_URL=url)
        assert down.returncode == 1 and url in down.stderr and "unreachable" in down.stderr, down.stderr
