"""Raw topics keep unredacted records only for a finite, configurable time; the control topic stays compacted."""

from __future__ import annotations

from warden.core.settings import WardenSettings
from warden.core.topics import CONTROL, TOPICS, topic_config


def test_every_raw_topic_has_a_finite_retention_from_the_settings() -> None:
    hours = WardenSettings(topic_retention_hours=36).topic_retention_hours
    for spec in TOPICS:
        config = topic_config(spec, hours)
        if spec.name == CONTROL:
            assert config == {"cleanup.policy": "compact"}  # a kill switch must not expire
            continue
        assert config["cleanup.policy"] == "delete"
        assert config["retention.ms"] == str(36 * 3_600_000), spec.name


def test_the_default_is_a_week() -> None:
    spec = next(s for s in TOPICS if s.name == "agent.events")
    assert topic_config(spec, WardenSettings().topic_retention_hours)["retention.ms"] == str(7 * 24 * 3_600_000)
