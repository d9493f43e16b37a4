"""The services' changelog topics expire on the embedded durable broker (ADR 0023): Tansu does not compact
them and lists every batch on each fetch, so only a SeaweedFS TTL bounds them; the runtime re-writes each
state's newest checkpoint within it (tests/runtime/test_changelog_expiry.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.broker.test_embedded import client_settings, embedded_settings
from warden.anomaly_alerter.settings import AnomalyAlerterSettings
from warden.broker.embedded import CHANGELOG_GROUPS, EmbeddedBroker, changelog_ttls
from warden.broker.tansu import CLUSTER_ID
from warden.core.settings import StatefulServiceSettings
from warden.cost_aggregator.settings import CostAggregatorSettings
from warden.kafka import clients
from warden.policy_evaluator.settings import PolicyEvaluatorSettings
from warden.risk_scorer.settings import RiskScorerSettings
from warden.rollout_controller.settings import RolloutControllerSettings
from warden.runtime.changelog import ChangelogStore, changelog_name
from warden.state.snapshots import SnapshotStore

STATEFUL: tuple[type[StatefulServiceSettings], ...] = (
    PolicyEvaluatorSettings, RiskScorerSettings, CostAggregatorSettings, AnomalyAlerterSettings,
    RolloutControllerSettings)


def test_every_stateful_services_changelog_gets_a_ttl_before_it_is_written() -> None:
    groups = {str(cls.model_fields["group_id"].default) for cls in STATEFUL}
    groups.add(f"{CostAggregatorSettings.model_fields['group_id'].default}-budgets")  # its second stage
    assert groups == set(CHANGELOG_GROUPS)
    settings = embedded_settings(Path("/nonexistent"))
    ttls = {t.topic: t for t in changelog_ttls(settings, {"d.custom.changelog": 3, "d.agent.events": 6})}
    assert set(ttls) == {settings.topic(changelog_name(g)) for g in groups} | {"d.custom.changelog"}
    assert {t.minutes for t in ttls.values()} == {settings.embedded_changelog_retention_minutes} == {10}
    assert ttls["d.custom.changelog"].partitions == 3


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(embedded_settings(tmp_path / "w"), tmp_path).start()
    try:
        yield broker
    finally:
        broker.stop()


def checkpoint(settings: StatefulServiceSettings, group: str, partition: int) -> None:
    producer = clients.producer(settings)
    store = ChangelogStore(settings, group, producer, SnapshotStore(settings.data_dir / "state" / group))
    try:
        store.save("d.agent.events", partition, 5, {"total": 1})
        store.sync()
    finally:
        store.close()
        producer.close(5)


def record_ttls(broker: EmbeddedBroker, topic: str, partition: int) -> set[int]:
    assert broker.storage is not None
    path = (f"{broker.storage.filer_url}/buckets/tansu/clusters/{CLUSTER_ID}/topics/"
            f"{topic}/partitions/{partition:0>10}/records/")
    listing = httpx.get(path, headers={"Accept": "application/json"}, timeout=10).json()
    return {entry["TtlSec"] for entry in listing.get("Entries") or []}


@pytest.mark.integration
def test_checkpoints_on_durable_storage_expire_and_another_groups_from_the_next_start(
        durable: EmbeddedBroker) -> None:
    base = client_settings(durable.settings)
    settings = StatefulServiceSettings(**{**base.model_dump(), "group_id": "x", "broker_storage": "s3"})
    minutes = settings.embedded_changelog_retention_minutes
    checkpoint(settings, "warden-risk-scorer", 2)
    checkpoint(settings, "custom", 1)
    assert record_ttls(durable, settings.topic("warden-risk-scorer.changelog"), 2) == {minutes * 60}
    assert record_ttls(durable, settings.topic("custom.changelog"), 1) == {0}  # unknown before it was stored
    durable.stop()
    durable.start()
    checkpoint(settings, "custom", 1)
    assert record_ttls(durable, settings.topic("custom.changelog"), 1) == {0, minutes * 60}
