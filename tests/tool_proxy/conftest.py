"""The tool-proxy tests' fixtures: a real local upstream that counts requests, a proxy in front of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tool_proxy.running import Proxy
from warden.core.settings import WardenSettings
from warden.tool_proxy.reference_upstream import Upstream


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream().start()
    yield server
    server.stop()


@pytest.fixture
def proxy(topics: WardenSettings, tmp_path: Path, upstream: Upstream) -> Iterator[Proxy]:
    running = Proxy(topics, tmp_path, upstream)
    yield running
    running.close()
