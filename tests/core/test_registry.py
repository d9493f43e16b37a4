"""Schema registries: stable file-backed ids, and a client for the Confluent REST API (checked against the
API's contract, not a real registry: see tests/core/confluent_contract.py).

Ids are written into every message, so an id that changed after a restart would make the
whole retained history of a topic unreadable; hence the stability checks.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.core.confluent_contract import ConfluentContract, contract_registry
from warden.core.catalog import load_schemas
from warden.core.errors import SchemaError
from warden.core.registry import FileSchemaRegistry, HttpSchemaRegistry, canonical

SCHEMA = load_schemas()["warden.RiskScore"]
OTHER = load_schemas()["warden.Alert"]


def reordered(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema with its keys in reverse order: a different text, the same schema."""
    return json.loads(json.dumps(dict(reversed(list(schema.items())))))


# --- FileSchemaRegistry -------------------------------------------------------------------------


def test_file_ids_are_stable_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    first = FileSchemaRegistry(path)
    a, b = first.register("warden.RiskScore", SCHEMA), first.register("warden.Alert", OTHER)
    assert a != b

    again = FileSchemaRegistry(path)
    assert again.schema(a) == SCHEMA  # read back from the file, not from the first instance's cache
    assert again.schema(b) == OTHER
    assert again.register("warden.Alert", OTHER) == b
    assert again.register("warden.RiskScore", SCHEMA) == a


def test_file_same_schema_twice_is_one_id(tmp_path: Path) -> None:
    registry = FileSchemaRegistry(tmp_path / "registry.json")
    first = registry.register("warden.RiskScore", SCHEMA)
    assert registry.register("warden.RiskScore", SCHEMA) == first
    assert registry.register("warden.RiskScore", reordered(SCHEMA)) == first
    assert canonical(reordered(SCHEMA)) == canonical(SCHEMA)
    stored = json.loads((tmp_path / "registry.json").read_text())
    assert list(stored["schemas"]) == [str(first)]
    assert stored["subjects"] == {"warden.RiskScore": [first]}


def test_file_a_changed_schema_gets_a_new_id_under_the_same_subject(tmp_path: Path) -> None:
    registry = FileSchemaRegistry(tmp_path / "registry.json")
    v1 = registry.register("warden.RiskScore", SCHEMA)
    changed = {**SCHEMA, "fields": [*SCHEMA["fields"], {"name": "model", "type": ["null", "string"], "default": None}]}
    v2 = registry.register("warden.RiskScore", changed)
    assert v2 != v1
    assert FileSchemaRegistry(tmp_path / "registry.json").schema(v2) == changed
    stored = json.loads((tmp_path / "registry.json").read_text())
    assert stored["subjects"]["warden.RiskScore"] == [v1, v2]


def test_file_ids_never_collide_between_instances_writing_in_turn(tmp_path: Path) -> None:
    """Two processes sharing the file: each sees the other's registrations before choosing an id."""
    path = tmp_path / "registry.json"
    one, two = FileSchemaRegistry(path), FileSchemaRegistry(path)
    a = one.register("warden.RiskScore", SCHEMA)
    b = two.register("warden.Alert", OTHER)
    assert a != b
    assert one.schema(b) == OTHER
    assert two.register("warden.RiskScore", SCHEMA) == a


def test_file_unknown_id_is_named(tmp_path: Path) -> None:
    registry = FileSchemaRegistry(tmp_path / "registry.json")
    with pytest.raises(SchemaError, match=r"unknown schema id 31\b"):
        registry.schema(31)
    registry.register("warden.RiskScore", SCHEMA)
    with pytest.raises(SchemaError, match=r"unknown schema id 32\b"):
        registry.schema(32)


def test_file_that_is_not_json_is_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text("{not json")
    with pytest.raises(SchemaError, match="is not JSON"):
        FileSchemaRegistry(path).schema(1)


# --- HttpSchemaRegistry: a contract test (tests/core/confluent_contract.py says why not a real registry) ---


@pytest.fixture
def registry_url() -> Iterator[str]:
    with contract_registry() as url:
        yield url


def test_http_contract_registers_and_fetches(registry_url: str) -> None:
    client = HttpSchemaRegistry(registry_url + "/")  # a trailing slash in the setting is tolerated
    sid = client.register("warden.RiskScore", SCHEMA)
    assert client.register("warden.RiskScore", SCHEMA) == sid
    assert client.register("warden.Alert", OTHER) != sid
    assert ConfluentContract.requests[0] == (
        "POST", "/subjects/warden.RiskScore/versions", "application/vnd.schemaregistry.v1+json"
    )

    fresh = HttpSchemaRegistry(registry_url)  # another process: nothing cached
    assert fresh.schema(sid) == SCHEMA
    assert ConfluentContract.requests[-1][:2] == ("GET", f"/schemas/ids/{sid}")
    calls = len(ConfluentContract.requests)
    assert fresh.schema(sid) == SCHEMA
    assert len(ConfluentContract.requests) == calls, "a schema id never changes meaning: fetch it once"


def test_http_contract_unknown_id_is_named(registry_url: str) -> None:
    with pytest.raises(SchemaError, match=r"unknown schema id 9\b.*40403"):
        HttpSchemaRegistry(registry_url).schema(9)


def test_http_contract_refusal_is_a_schema_error_naming_the_url(registry_url: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(registry_url)):
        HttpSchemaRegistry(registry_url).register("bad subject/with slash", SCHEMA)


def closed_port() -> int:
    """A port nothing listens on: bound, then released (no server is ever started on it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_http_unreachable_registry_names_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    client = HttpSchemaRegistry(url, timeout_s=1)
    with pytest.raises(SchemaError, match=re.escape(url) + ".*unreachable"):
        client.register("warden.RiskScore", SCHEMA)
    with pytest.raises(SchemaError, match=r"unknown schema id 5\b.*" + re.escape(url)):
        client.schema(5)


def test_http_contract_lists_every_version_of_every_subject(registry_url: str) -> None:
    client = HttpSchemaRegistry(registry_url)
    changed = {**SCHEMA, "fields": [*SCHEMA["fields"], {"name": "model", "type": ["null", "string"], "default": None}]}
    v1, v2 = client.register("warden.RiskScore", SCHEMA), client.register("warden.RiskScore", changed)
    alert = client.register("warden.Alert", OTHER)
    listed = [(r.subject, r.version, r.schema_id, r.schema) for r in HttpSchemaRegistry(registry_url).subjects()]
    assert listed == [("warden.Alert", 1, alert, OTHER), ("warden.RiskScore", 1, v1, SCHEMA),
                      ("warden.RiskScore", 2, v2, changed)]
    assert ("GET", "/subjects/warden.RiskScore/versions/2") in [r[:2] for r in ConfluentContract.requests]


def test_file_lists_every_version_of_every_subject(tmp_path: Path) -> None:
    registry = FileSchemaRegistry(tmp_path / "registry.json")
    assert registry.subjects() == []
    a, b = registry.register("warden.RiskScore", SCHEMA), registry.register("warden.Alert", OTHER)
    listed = [(r.subject, r.version, r.schema_id) for r in FileSchemaRegistry(tmp_path / "registry.json").subjects()]
    assert listed == [("warden.Alert", 1, b), ("warden.RiskScore", 1, a)]
