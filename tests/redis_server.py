"""A real Redis server for the SDK cache's shared store: Debian's redis-server, started per test session.

`make test` installs the package when it is missing (as root, as on CI); without it the tests that need
the shared store fail and say what to install.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_redis(data: Path) -> Iterator[str]:
    """A redis-server on a free loopback port with no persistence, its log in `data`; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run 'apt-get install -y redis-server' "
                           "(make test does, as root)")
    port = _free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--dir", str(data), "--protected-mode", "yes"],
                               stdout=(data / "redis.log").open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"redis-server did not start: {(data / 'redis.log').read_text()[-500:]}") from None
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with running_redis(Path(tmp_path_factory.mktemp("redis"))) as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc))
