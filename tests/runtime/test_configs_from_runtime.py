"""Issue 14: no Kafka client config is written outside the runtime's client layer. For every service ported
onto the runtime, the source builds no Consumer/Producer and spells out no client setting; warden.kafka.clients
does (the layer the runtime and the SDK share, issue 14 point 6)."""

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


def test_the_client_layer_is_where_the_guarantees_are_written_once() -> None:
    text = "".join(p.read_text() for p in (PACKAGE / "kafka").glob("*.py"))
    assert text.count('"enable.idempotence": True') == 1 and text.count("Consumer(") == 2
    assert text.count("AdminClient(") == 1


CONSTRUCTION = re.compile(r"\b(Consumer|Producer|CheckedProducer|AdminClient)\(|enable\.idempotence|\"acks\"")


def test_no_kafka_client_is_built_and_no_guarantee_is_written_outside_the_client_layer() -> None:
    """Approvals, the control view and CLI, the tool proxy, the SDK, evals, admin, the demo: all through
    warden.kafka.clients / configs."""
    found = [f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py")) if "kafka" not in path.relative_to(PACKAGE).parts
             for n, line in enumerate(path.read_text().splitlines(), 1) if CONSTRUCTION.search(line)]
    assert found == []


def test_the_sdk_takes_its_configs_from_the_client_layer_without_importing_the_runtime() -> None:
    """The SDK imports the config builders (warden.kafka's configs.py, clients.py) and nothing of the stream loop."""
    code = ("import sys, warden.sdk.client; "
            "print(' '.join(m for m in sys.modules if m.startswith(('warden.runtime', 'warden.kafka'))))")
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
                 .stdout.split())
    assert not {m for m in loaded if m.startswith("warden.runtime")}
    assert "warden.kafka.configs" in loaded
