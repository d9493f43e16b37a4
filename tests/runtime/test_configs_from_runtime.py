"""Issue 14: no Kafka client config is written outside the runtime. For every service ported onto it,
the source builds no Consumer/Producer and spells out no client setting; warden.runtime.clients does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import warden

PACKAGE = Path(warden.__file__).parent
PORTED = ["policy_evaluator", "cost_aggregator", "risk_scorer", "rollout_controller", "anomaly_alerter", "notifier",
          "ledger_sink"]
CLIENT = re.compile(r"\b(Consumer|Producer|CheckedProducer|AdminClient)\(|enable\.idempotence|\"acks\"|"
                    r"group\.id|fetch\.wait\.max\.ms|auto\.offset\.reset|kafka_config\(|producer_config\(")


@pytest.mark.parametrize("service", PORTED)
def test_a_ported_service_builds_no_kafka_client_of_its_own(service: str) -> None:
    found = [f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
             for path in sorted((PACKAGE / service).glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if CLIENT.search(line)]
    assert found == []


def test_the_runtime_is_where_the_guarantees_are_written_once() -> None:
    text = "".join(p.read_text() for p in (PACKAGE / "runtime").glob("*.py"))
    assert text.count('"enable.idempotence": True') == 1 and text.count("Consumer(") == 2
    assert text.count("AdminClient(") == 1


CONSTRUCTION = re.compile(r"\b(Consumer|Producer|CheckedProducer|AdminClient)\(|enable\.idempotence|\"acks\"")


def test_no_kafka_client_is_built_and_no_guarantee_is_written_outside_the_runtime() -> None:
    """Approvals, the control view and CLI, the tool proxy, the SDK, evals, admin, the demo: all through
    warden.runtime.clients / configs."""
    found = [f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py")) if "runtime" not in path.relative_to(PACKAGE).parts
             for n, line in enumerate(path.read_text().splitlines(), 1) if CONSTRUCTION.search(line)]
    assert found == []


def test_the_sdk_takes_its_configs_from_the_runtime_without_importing_its_loop() -> None:
    """The SDK imports the config builders (configs.py, clients.py) and nothing of the stream loop."""
    code = ("import sys, warden.sdk.client; print(' '.join(m for m in sys.modules if m.startswith('warden.runtime')))")
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
                 .stdout.split())
    assert loaded <= {"warden.runtime", "warden.runtime.clients", "warden.runtime.configs", "warden.runtime.producer"}
    assert "warden.runtime.configs" in loaded
