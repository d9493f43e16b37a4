"""The loopback query endpoint of the process that owns the embedded chDB path.

chDB locks its directory, so while the stack runs `warden query`, reports and APIs ask
this endpoint instead of opening the path a second time. It listens on 127.0.0.1 only,
answers read-only SQL (POST /query), and serves the process's Prometheus metrics (GET /metrics).
Queries need the random token written (mode 0600) to the endpoint file, a JSON body and a
loopback Host header, so neither another local user nor a web page in a browser can use it.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

from warden.core.errors import WardenError
from warden.ledger.client import Ledger
from warden.ledger.readonly import QueryLimits, ReadonlySessions

ENDPOINT_FILE = "ledger-endpoint.json"


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, Decimal, UUID)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


class QueryEndpoint:
    def __init__(self, ledger: Ledger, data_dir: Path, port: int = 0,
                 metrics: Callable[[], tuple[bytes, str]] | None = None, limits: QueryLimits | None = None) -> None:
        """Queries run on read-only sessions of their own (warden.ledger.readonly.ReadonlySessions), never on
        `ledger`'s connection, which stays the sink's alone."""
        self.ledger = ledger
        self.limits = limits or QueryLimits()
        self.sessions = ReadonlySessions(ledger, self.limits)
        self.file = data_dir / ENDPOINT_FILE
        self.token = secrets.token_urlsafe(24)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._send(200, b'{"status":"ok"}')
                elif self.path == "/metrics" and metrics is not None:
                    body, content_type = metrics()
                    self._send(200, body, content_type)
                else:
                    self._send(404, b'{"error":"not found"}')

            def do_POST(self) -> None:
                if self.path != "/query":
                    self._send(404, b'{"error":"not found"}')
                    return
                token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                host = self.headers.get("Host", "").rsplit(":", 1)[0]
                if not hmac.compare_digest(token.encode(), endpoint.token.encode()):
                    self._send(401, b'{"error":"the token from the ledger endpoint file is required"}')
                    return
                if host not in {"127.0.0.1", "localhost"} or not self.headers.get(
                        "Content-Type", "").startswith("application/json"):
                    self._send(400, b'{"error":"loopback Host and a JSON body are required"}')
                    return
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    sql = json.loads(self.rfile.read(length) or b"{}").get("sql", "")
                    columns, rows = endpoint.sessions.run(sql)
                    body = {"columns": columns, "rows": jsonable(rows)}
                    self._send(200, json.dumps(body).encode())
                except WardenError as exc:
                    self._send(400, json.dumps({"error": str(exc), "kind": type(exc).__name__}).encode())
                except ValueError as exc:
                    self._send(400, json.dumps({"error": f"bad request: {exc}"}).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="ledger-query", daemon=True)

    def start(self) -> QueryEndpoint:
        self._thread.start()
        self.file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump({"url": f"http://127.0.0.1:{self.port}", "pid": os.getpid(), "ledger": self.ledger.url,
                       "token": self.token}, out)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.sessions.close()
        self.file.unlink(missing_ok=True)
