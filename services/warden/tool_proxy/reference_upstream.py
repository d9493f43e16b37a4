"""A local stand-in for the reference tools' upstream APIs (DESIGN.md's seven actions).

Tests and benchmarks/proxy.py call it directly and through the proxy: it counts every request
it receives (so a test can prove a refused call never reached it), remembers the credentials it
was shown, and answers outputs that fit policies/tools/inventory.yaml unless told to answer something else.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ids = itertools.count(1)


def answer(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A valid output for each reference action, built from its input."""
    n = next(_ids)
    action = path.rstrip("/").rsplit("/", 2)[-2:]
    match action:
        case ["crm", "lookup"]:
            return {"customer_id": body.get("customer_id", "c"), "name": "Ada Lovelace", "email": "ada@example.com",
                    "tier": "pro"}
        case ["crm", "delete_record"]:
            return {"record_id": body.get("record_id", "r"), "deleted": True}
        case ["payments", "refund"]:
            return {"refund_id": f"rf-{n}", "status": "completed", "amount_usd": body.get("amount_usd", 0)}
        case ["reports", "export"]:
            return {"export_id": f"ex-{n}", "rows_exported": body.get("row_count", 0)}
        case ["tickets", "update"]:
            return {"ticket_id": body.get("ticket_id", "t"), "status": body.get("status", "open")}
        case ["email", "send"]:
            return {"message_id": f"m-{n}"}
        case ["iam", "grant_access"]:
            return {"grant_id": f"g-{n}"}
    return {"ok": True}


class Upstream:
    """ThreadingHTTPServer on 127.0.0.1 (HTTP/1.1 keep-alive), in a daemon thread."""

    def __init__(self, port: int = 0) -> None:
        self.requests: Counter[str] = Counter()
        self.authorizations: list[str] = []
        self.overrides: dict[str, tuple[int, str]] = {}  # path -> (status, raw body)
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed ACK

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with upstream._lock:
                    upstream.requests[self.path] += 1
                    upstream.authorizations.append(self.headers.get("Authorization") or "")
                    override = upstream.overrides.get(self.path)
                if override is not None:
                    status, text = override
                else:
                    try:
                        body = json.loads(raw or b"{}")
                    except ValueError:
                        body = {}
                    status, text = 200, json.dumps(answer(self.path, body if isinstance(body, dict) else {}))
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="reference-upstream", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def start(self) -> Upstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def main() -> None:
    """`python -m warden.tool_proxy.reference_upstream PORT`: serve until killed (benchmarks, local trials)."""
    import sys

    server = Upstream(int(sys.argv[1]) if len(sys.argv) > 1 else 9701)
    print(server.url, flush=True)
    server.server.serve_forever()


if __name__ == "__main__":
    main()
