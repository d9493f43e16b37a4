"""Topics as the real broker (Tansu) creates them: the raw topics expire, the control topic is compacted."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import ConfigResource

from warden.broker.admin import admin_client
from warden.core.settings import WardenSettings
from warden.core.topics import AGENT_EVENTS, CONTROL, DEADLETTER

pytestmark = pytest.mark.integration


def configs(settings: WardenSettings, base: str) -> dict[str, str]:
    resource = ConfigResource(ConfigResource.Type.TOPIC, settings.topic(base))
    admin = admin_client(settings)  # held until the answer is in: a collected client cancels its futures
    [future] = admin.describe_configs([resource]).values()
    return {name: entry.value for name, entry in future.result(15).items()}


def test_raw_topics_are_created_with_a_finite_retention(topics: WardenSettings) -> None:
    week = str(7 * 24 * 3_600_000)
    for base in (AGENT_EVENTS, DEADLETTER):
        found = configs(topics, base)
        assert (found["cleanup.policy"], found["retention.ms"]) == ("delete", week), base
    assert configs(topics, CONTROL)["cleanup.policy"] == "compact"
