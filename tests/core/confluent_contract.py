"""A contract stand-in for the Confluent Schema Registry REST API: the endpoints Warden calls, answered as
Confluent documents them, in a real HTTP server in the test process.

A CONTRACT test, not an integration test: no real Confluent-compatible registry is installable on this
project's machines (Karapace is not on PyPI; Confluent's and Apicurio's registries are Java applications
from Maven Central or container images, and this machine reaches only PyPI, Debian and npm; none of those
three ships one). What this checks is that Warden sends the documented requests and reads the documented
answers; what a real registry adds (compatibility checks, auth, its own id allocation) is not tested.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

SUBJECT = r"[\w.-]+"


class ConfluentContract(BaseHTTPRequestHandler):
    """POST /subjects/{s}/versions, GET /schemas/ids/{id}, GET /subjects, GET /subjects/{s}/versions[/{v}]."""

    schemas: dict[int, str] = {}
    subjects: dict[str, list[int]] = {}
    requests: list[tuple[str, str, str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, code: int = 40403, message: str = "Schema not found") -> None:
        self._json(404, {"error_code": code, "message": message})

    def do_POST(self) -> None:
        self.requests.append(("POST", self.path, self.headers.get("Content-Type", "")))
        match = re.fullmatch(rf"/subjects/({SUBJECT})/versions", self.path)
        if not match:
            self._not_found()
            return
        schema = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["schema"]
        assert isinstance(schema, str), "the Confluent API takes the schema as JSON text"
        sid = next((i for i, known in self.schemas.items() if known == schema), None)
        if sid is None:
            sid = len(self.schemas) + 100
            self.schemas[sid] = schema
        versions = self.subjects.setdefault(unquote(match.group(1)), [])
        if sid not in versions:
            versions.append(sid)
        self._json(200, {"id": sid})

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, self.headers.get("Content-Type", "")))
        if self.path == "/subjects":
            self._json(200, sorted(self.subjects))
            return
        by_id = re.fullmatch(r"/schemas/ids/(\d+)", self.path)
        if by_id and int(by_id.group(1)) in self.schemas:
            self._json(200, {"schema": self.schemas[int(by_id.group(1))]})
            return
        versions = re.fullmatch(rf"/subjects/({SUBJECT})/versions(?:/(\d+))?", self.path)
        if versions and versions.group(1) in self.subjects:
            ids = self.subjects[versions.group(1)]
            if versions.group(2) is None:
                self._json(200, list(range(1, len(ids) + 1)))
                return
            number = int(versions.group(2))
            if 1 <= number <= len(ids):
                sid = ids[number - 1]
                self._json(200, {"subject": versions.group(1), "version": number, "id": sid,
                                 "schema": self.schemas[sid]})
                return
            self._not_found(40402, "Version not found.")
            return
        if versions:
            self._not_found(40401, "Subject not found.")
            return
        self._not_found()


@contextmanager
def contract_registry() -> Iterator[str]:
    """The stand-in on a free loopback port, empty; yields its URL."""
    ConfluentContract.schemas = {}
    ConfluentContract.subjects = {}
    ConfluentContract.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ConfluentContract)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
