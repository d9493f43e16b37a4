"""One embedded Tansu broker per test session; every test namespaces its topics with a unique prefix."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core.settings import WardenSettings


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with TansuBroker(free_port(), log_path=log) as running:
        yield running


@pytest.fixture
def settings(broker: TansuBroker, tmp_path: Path) -> WardenSettings:
    """Settings for one test: the session broker, its own topic prefix, data dir and ledger."""
    return WardenSettings(
        data_dir=tmp_path / "warden",
        kafka_bootstrap_servers=broker.bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        query_port=0,
        group_session_timeout_ms=6000,
    )


@pytest.fixture
def topics(settings: WardenSettings) -> WardenSettings:
    """The same settings with every Warden topic created under the test's prefix."""
    ensure_topics(settings)
    return settings
