"""Schema registries: stable file-backed ids, and a Confluent-compatible HTTP client."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from warden.broker.tansu import free_port
from warden.core.catalog import load_schemas
from warden.core.errors import SchemaError
from warden.core.registry import FileSchemaRegistry, HttpSchemaRegistry

SCHEMA = load_schemas()["warden.RiskScore"]
OTHER = load_schemas()["warden.Alert"]


def test_file_ids_are_stable_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    first = FileSchemaRegistry(path)
    a, b = first.register("warden.RiskScore", SCHEMA), first.register("warden.Alert", OTHER)
    assert a != b
    again = FileSchemaRegistry(path)
    assert again.register("warden.RiskScore", SCHEMA) == a
    assert again.register("warden.Alert", OTHER) == b
    assert again.schema(a) == json.loads(json.dumps(SCHEMA))


def test_file_unknown_id_is_named(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="unknown schema id 31"):
        FileSchemaRegistry(tmp_path / "registry.json").schema(31)


class ConfluentSubset(BaseHTTPRequestHandler):
    """The two endpoints of the Confluent Schema Registry REST API that Warden uses."""

    schemas: dict[int, str] = {}

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        if not re.fullmatch(r"/subjects/[\w.-]+/versions", self.path):
            self._json(404, {"error_code": 40401, "message": "Subject not found"})
            return
        schema = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["schema"]
        for sid, known in self.schemas.items():
            if known == schema:
                self._json(200, {"id": sid})
                return
        sid = len(self.schemas) + 100
        self.schemas[sid] = schema
        self._json(200, {"id": sid})

    def do_GET(self) -> None:
        match = re.fullmatch(r"/schemas/ids/(\d+)", self.path)
        if match and int(match.group(1)) in self.schemas:
            self._json(200, {"schema": self.schemas[int(match.group(1))]})
        else:
            self._json(404, {"error_code": 40403, "message": "Schema not found"})


@pytest.fixture
def registry_url() -> Iterator[str]:
    ConfluentSubset.schemas = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), ConfluentSubset)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_registry_registers_and_fetches(registry_url: str) -> None:
    client = HttpSchemaRegistry(registry_url)
    sid = client.register("warden.RiskScore", SCHEMA)
    assert client.register("warden.RiskScore", SCHEMA) == sid
    fresh = HttpSchemaRegistry(registry_url)
    assert fresh.schema(sid) == json.loads(json.dumps(SCHEMA))


def test_http_unknown_id_is_named(registry_url: str) -> None:
    with pytest.raises(SchemaError, match="unknown schema id 9"):
        HttpSchemaRegistry(registry_url).schema(9)


def test_http_unreachable_registry_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SchemaError, match=re.escape(url)):
        HttpSchemaRegistry(url, timeout_s=1).register("warden.RiskScore", SCHEMA)
