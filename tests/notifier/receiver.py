"""A real HTTP receiver on a free loopback port that records what on-call would get."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from warden.broker.tansu import free_port


class Receiver:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bodies: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # time.time() of each accepted POST
        self.fail_with: int | None = None  # answer this status instead of 202
        self.refuse: Callable[[Any], int | None] = lambda body: None  # a status for this one body, or None
        self.attempts = 0
        self.server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner._lock:
                    owner.attempts += 1
                    status = owner.fail_with or owner.refuse(json.loads(body)) or 202
                    if status < 300:
                        owner.bodies.append(json.loads(body))
                        owner.arrivals.append(time.time())
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "ok"}' if status < 300 else b'{"error": "down"}')

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.bodies)
