"""One embedded Tansu broker per test session; every test namespaces its topics with a unique prefix."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.demo_stack import DemoLedger, start_demo, stop_demo
from tests.running import in_thread
from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker, free_port
from warden.core.settings import WardenSettings
from warden.ledger.client import Ledger
from warden.ledger.migrations import migrate
from warden.policy_evaluator.service import PolicyEvaluator
from warden.policy_evaluator.settings import PolicyEvaluatorSettings

# The modules whose tests read the session's demo (demo_ledger): under `make test` (two pytest-xdist
# workers, --dist loadscope) they form one scope, so one worker plays the demo, not each.
DEMO_MODULES = frozenset({"tests/cli/test_demo.py", "tests/dashboards/test_panels.py", "tests/demo/test_demo_story.py",
                          "tests/report/test_report.py"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The demo's tests first (its ~2 minutes of set-up start at once), those marked stops_demo last among
    them: they stop the session's demo stack, to read its ledger as one left behind."""
    demo = [item for item in items if "demo_ledger" in getattr(item, "fixturenames", ())]
    strays = sorted({item.nodeid.split("::")[0] for item in demo} - DEMO_MODULES)
    if strays:
        raise pytest.UsageError(f"{strays} use demo_ledger: add them to DEMO_MODULES in tests/conftest.py")
    first = ([item for item in demo if not item.get_closest_marker("stops_demo")]
             + [item for item in demo if item.get_closest_marker("stops_demo")])
    items[:] = first + [item for item in items if "demo_ledger" not in getattr(item, "fixturenames", ())]


try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pytest-xdist is a dev dependency; without it the suite runs in one process
    pass
else:
    class _DemoTogether(LoadScopeScheduling):
        """loadscope (each module whole to one worker), with the demo's modules as one scope. (xdist's own
        loadgroup marks do not reach the scheduler under pytest 9.2: it renames a node id attribute
        pytest no longer reads.)"""

        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return "demo" if module in DEMO_MODULES else module

    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
        return _DemoTogether(config, log) if config.getvalue("dist") == "loadscope" else None


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
        # Clients that outlive their test log "connection refused" once the session's broker stops.
        kafka_extra_config={"log_level": 0},
    )


@pytest.fixture
def topics(settings: WardenSettings) -> WardenSettings:
    """The same settings with every Warden topic created under the test's prefix."""
    ensure_topics(settings)
    return settings


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """chDB allows one path per process, so the whole session shares one; tests use their own database."""
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def ledger(chdb_url: str) -> Iterator[Ledger]:
    """A migrated ledger in a database of its own (real ClickHouse engine through chDB)."""
    db = f"w_{uuid.uuid4().hex[:10]}"
    client = Ledger(chdb_url, database=db)
    migrate(client, {"*": 7})
    yield client
    client.command(f"DROP DATABASE IF EXISTS {db}")


@pytest.fixture
def evaluator(topics: WardenSettings) -> Iterator[PolicyEvaluator]:
    """A live policy-evaluator on the test's topics, in a thread of the test process."""
    fields: dict[str, Any] = {**topics.model_dump(), "group_id": f"pe-{uuid.uuid4().hex[:8]}"}
    with in_thread(PolicyEvaluator(PolicyEvaluatorSettings(**fields)).start()) as service:
        yield service


@pytest.fixture(scope="session")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoLedger]:
    """Demo data as a newcomer gets it: `warden demo` (simulator, every service of the stack, the
    demo approver), left running so tests query the same ledger the report reads; tests marked
    stops_demo (run last) stop it."""
    demo, process = start_demo(tmp_path_factory.mktemp("demo"))
    try:
        yield demo
    finally:
        stop_demo(process)
