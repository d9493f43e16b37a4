"""A local HTTP server that answers like Grafana's HTTP API for what `warden dashboards push` uses:
/api/health without auth, everything else (frontend settings with the build info, data sources by
uid, folders, dashboards/db) behind one bearer token, 401 otherwise. It keeps what was pushed so
tests can read it back."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class FakeGrafana:
    def __init__(self, token: str) -> None:
        self.token = token
        self.datasources: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        grafana = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                grafana.calls.append((method, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                if self.path == "/api/health":
                    return self._reply(200, {"commit": "test", "database": "ok", "version": "11.4.0"})
                if self.headers.get("Authorization") != f"Bearer {grafana.token}":
                    return self._reply(401, {"message": "invalid API key", "traceID": ""})
                if self.path == "/api/frontend/settings":
                    return self._reply(200, {"buildInfo": {"version": "11.4.0", "edition": "Open Source"}})
                self._reply(*grafana.route(method, self.path, body))

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if path.startswith("/api/datasources/uid/"):
            uid = path.rsplit("/", 1)[1]
            if method == "GET":
                return (200, self.datasources[uid]) if uid in self.datasources else (404, {"message": "not found"})
            if method == "PUT" and uid in self.datasources:
                self.datasources[uid] = body
                return 200, {"message": "Datasource updated"}
        if path == "/api/datasources" and method == "POST":
            if body["uid"] in self.datasources:
                return 409, {"message": "data source with the same uid already exists"}
            self.datasources[body["uid"]] = body
            return 200, {"message": "Datasource added"}
        if path.startswith("/api/folders/") and method == "GET":
            uid = path.rsplit("/", 1)[1]
            return (200, self.folders[uid]) if uid in self.folders else (404, {"message": "folder not found"})
        if path == "/api/folders" and method == "POST":
            self.folders[body["uid"]] = body
            return 200, body
        if path == "/api/dashboards/db" and method == "POST":
            if body["folderUid"] not in self.folders:
                return 400, {"message": "folder not found"}
            self.dashboards[body["dashboard"]["uid"]] = body
            return 200, {"status": "success", "uid": body["dashboard"]["uid"]}
        return 404, {"message": f"no route {method} {path}"}

    def __enter__(self) -> FakeGrafana:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
