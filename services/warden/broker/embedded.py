"""The embedded broker of `warden up` and `warden demo`: Tansu on SeaweedFS, restartable piece by piece.

Durable (the default): Tansu's `s3://` storage against a loopback SeaweedFS under
DATA_DIR/broker, so a restart of Tansu, of SeaweedFS or of the whole stack keeps what the broker
acknowledged: records not yet landed, group offsets, the control topic's switches. Tansu 0.6 applies
no retention of its own: each topic's `retention.ms` becomes a SeaweedFS TTL on its record batches,
`warden up` deletes the batches its services have read long before (ADR 0028, warden.broker.trim),
and the services' compacted changelog topics expire after `embedded_changelog_retention_minutes`
(ADR 0023). Memory storage
(WARDEN_EMBEDDED_STORAGE=memory) keeps nothing across a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx
from confluent_kafka.admin import AdminClient

from warden.broker.history import stored_partitions
from warden.broker.seaweed import SeaweedS3, TopicTtl, ttl_minutes
from warden.broker.tansu import CLUSTER_ID, TansuBroker
from warden.broker.trim import BatchTrimmer
from warden.core.settings import WardenSettings
from warden.core.topics import (
    AGENT_EVENTS,
    ALERTS,
    APPROVAL_DECISIONS,
    APPROVAL_REQUESTS,
    COST_ROLLUPS,
    PARTITIONS,
    POLICY_DECISIONS,
    ROLLOUT_DECISIONS,
    TOPICS,
    TopicSpec,
    topic_config,
)
from warden.ledger_rows.tables import TABLES

# The consumer groups whose state is checkpointed on `<group>.changelog` (warden.runtime.changelog), as the
# services' settings name them (tests/broker/test_changelog_ttl.py checks): their TTL is set before any writes.
# A changelog topic of another group gets its TTL at the next start, once it is stored.
CHANGELOG_GROUPS = ("warden-policy-evaluator", "warden-risk-scorer", "warden-cost-aggregator",
                    "warden-cost-aggregator-budgets", "warden-anomaly-alerter", "warden-rollout-controller")
CHANGELOG_SUFFIX = ".changelog"
# What each service of `warden up` reads and commits, per consumer group: its processors' main and co-partitioned
# inputs, whose positions the runtime commits for the group (a broadcast input is read from its start by every
# replica and never committed: it would hold its topic for good). tests/broker/test_trim.py ties it to the groups
# and inputs the services' Apps declare. A batch is deleted once every group that reads its topic is past it, and a
# group the stack started holds the topics it reads from the start, before its first commit (ADR 0028). A service
# not listed commits no offsets.
LANDING_GROUP = "warden-ledger-sink"  # lands every trimmed topic: nothing goes before it has it
BUDGETS_GROUP = "warden-cost-aggregator-budgets"  # the cost-aggregator's stage two, only with budgets_enabled
SERVICE_READS: dict[str, dict[str, frozenset[str]]] = {
    "ledger-sink": {LANDING_GROUP: frozenset(TABLES)},
    "policy-evaluator": {"warden-policy-evaluator": frozenset({AGENT_EVENTS})},
    "risk-scorer": {"warden-risk-scorer": frozenset({AGENT_EVENTS, POLICY_DECISIONS})},  # decisions co-partitioned
    "cost-aggregator": {"warden-cost-aggregator": frozenset({AGENT_EVENTS}), BUDGETS_GROUP: frozenset({COST_ROLLUPS})},
    "anomaly-alerter": {"warden-anomaly-alerter": frozenset({AGENT_EVENTS, POLICY_DECISIONS})},
    "notifier": {"warden-notifier": frozenset({ALERTS})},
    "rollout-controller": {"warden-rollout-controller": frozenset({AGENT_EVENTS, POLICY_DECISIONS, ALERTS,
                                                                   APPROVAL_DECISIONS})},
}
# Every consumer group of `warden up`'s services that commits offsets: their offsets are what the trimmer reads.
STACK_GROUPS = tuple(group for groups in SERVICE_READS.values() for group in groups)
# Topics a service reads again from their start when it starts, so what was read is still wanted: the approvals
# service rebuilds its pending requests from the approvals topics, and `warden rollout status` (the rollout
# HTTP API's DecisionLog) the last decision of each rollout from rollout.decisions. Kept by a TTL far past the
# approval timeout (15 min by default) and a rollout's steps instead; one batch per request, decision or
# judgment, read with 500 ms fetch waits (a stall only past ~4,000 batches): the history watch says if they grow.
REREAD = frozenset({APPROVAL_REQUESTS, APPROVAL_DECISIONS, ROLLOUT_DECISIONS})
REREAD_TTL_MINUTES = 24 * 60


def _retained(specs: tuple[TopicSpec, ...], settings: WardenSettings) -> list[tuple[TopicSpec, int]]:
    """The delete-policy topics with a finite retention.ms, as ensure_topics creates them."""
    kept = []
    for spec in specs:
        config = topic_config(spec, settings.topic_retention_hours)
        retention = int(config.get("retention.ms", "-1"))
        if retention > 0 and "compact" not in config.get("cleanup.policy", "delete"):
            kept.append((spec, retention))
    return kept


def topic_ttls(settings: WardenSettings, specs: tuple[TopicSpec, ...] = TOPICS) -> list[TopicTtl]:
    """A SeaweedFS TTL of each delete-policy topic's retention.ms (Tansu applies none): the trimmer deletes
    what the services have read long before (ADR 0028); the topics read again at a start are capped at
    ``REREAD_TTL_MINUTES``. Compacted and keep-forever topics get none."""
    return [TopicTtl(settings.topic(spec.name), spec.partitions,
                     min(ttl_minutes(retention), REREAD_TTL_MINUTES) if spec.name in REREAD else ttl_minutes(retention))
            for spec, retention in _retained(specs, settings)]


def trimmed_topics(settings: WardenSettings, specs: tuple[TopicSpec, ...] = TOPICS) -> dict[str, int]:
    """The topics whose batches go once the services have read them: every delete-policy one but ``REREAD``."""
    return {settings.topic(spec.name): spec.partitions for spec, _ in _retained(specs, settings)
            if spec.name not in REREAD}


def holders(settings: WardenSettings, services: Iterable[str], budgets: bool = True) -> dict[str, tuple[str, ...]]:
    """Each trimmed topic (by its full name) -> the groups of ``services`` that read it (``SERVICE_READS``): the
    groups a stack that started those services waits for on that topic from the start, before their first commit,
    so a service slow to join or crash-looping at its first start loses nothing it had not read. Only the topics a
    group reads: one it never commits on would hold the topic for good. ``budgets``: the cost-aggregator runs its
    second stage (CostAggregatorSettings.budgets_enabled)."""
    trimmed = trimmed_topics(settings)
    held: dict[str, list[str]] = {}
    for service in services:
        for group, reads in SERVICE_READS.get(service, {}).items():
            if group == BUDGETS_GROUP and not budgets:
                continue
            for topic in sorted(reads):
                if settings.topic(topic) in trimmed:
                    held.setdefault(settings.topic(topic), []).append(group)
    return {topic: tuple(groups) for topic, groups in held.items()}


def trimmer(settings: WardenSettings, s3_url: Callable[[], str], admin: AdminClient, services: Iterable[str],
            budgets: bool = True) -> BatchTrimmer:
    """What `warden up` runs beside a durable embedded broker (ADR 0028), for the services it started."""
    return BatchTrimmer(s3_url, admin, CLUSTER_ID, trimmed_topics(settings), STACK_GROUPS,
                        keep_read_s=settings.embedded_retention_minutes * 60.0,
                        unread_max=settings.embedded_unread_batches_max,
                        required=holders(settings, services, budgets))


def changelog_ttls(settings: WardenSettings, stored: dict[str, int] | None = None) -> list[TopicTtl]:
    """The services' changelog topics, and any other stored one, expire after
    ``embedded_changelog_retention_minutes``: Tansu does not compact them, and the runtime re-writes each
    state's newest checkpoint well within it (ADR 0023)."""
    topics = {settings.topic(f"{group}{CHANGELOG_SUFFIX}"): PARTITIONS[AGENT_EVENTS] for group in CHANGELOG_GROUPS}
    for topic, partitions in (stored or {}).items():
        if topic.endswith(CHANGELOG_SUFFIX):
            topics[topic] = max(topics.get(topic, 0), partitions)
    return [TopicTtl(topic, n, settings.embedded_changelog_retention_minutes) for topic, n in sorted(topics.items())]


class EmbeddedBroker:
    """Tansu plus, when durable, its SeaweedFS; ``revive`` restarts whichever died."""

    def __init__(self, settings: WardenSettings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.durable = settings.embedded_storage == "s3"
        self.storage: SeaweedS3 | None = (
            SeaweedS3(settings.broker_dir, log_dir / "seaweedfs.log", settings.weed_bin,
                      avoid_ports=frozenset({settings.embedded_broker_port}),
                      memory_limit_mib=settings.embedded_storage_memory_mib) if self.durable else None
        )
        self.tansu: TansuBroker | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.settings.embedded_broker_port}"

    def pids(self) -> list[int]:
        return [p.process.pid for p in (self.storage, self.tansu) if p is not None and p.process is not None]

    def start(self, timeout_s: float = 60.0) -> EmbeddedBroker:
        """Within ``timeout_s`` in all: SeaweedFS ready for Tansu's writes, then Tansu listening."""
        deadline = time.monotonic() + timeout_s
        try:
            if self.storage is not None:
                self.storage.start(timeout_s)
                with httpx.Client(timeout=httpx.Timeout(30.0, connect=2.0)) as client:
                    stored = stored_partitions(client, self.storage.s3_url, CLUSTER_ID)
                self.storage.configure_ttls(topic_ttls(self.settings) + changelog_ttls(self.settings, stored),
                                            CLUSTER_ID)
            self._start_tansu(max(5.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        return self

    def _start_tansu(self, timeout_s: float = 20.0) -> None:
        self.tansu = TansuBroker(self.settings.embedded_broker_port, self.settings.tansu_bin,
                                 self.log_dir / "tansu.log", self.storage.s3_url if self.storage else None
                                 ).start(timeout_s)

    def dead(self) -> list[str]:
        """Which parts have exited: 'seaweedfs', 'tansu'."""
        gone = []
        if self.storage is not None and not self.storage.alive():
            gone.append("seaweedfs")
        if self.tansu is not None and not self.tansu.alive():
            gone.append("tansu")
        return gone

    def revive(self) -> list[str]:
        """Restart what died; returns what was restarted. Tansu follows SeaweedFS if its endpoint moved."""
        restarted = []
        if self.storage is not None and not self.storage.alive():
            before = self.storage.s3_url
            self.storage.start()
            restarted.append("seaweedfs")
            if self.storage.s3_url != before and self.tansu is not None and self.tansu.alive():
                self.tansu.stop()
        if self.tansu is None or not self.tansu.alive():
            self._start_tansu()
            restarted.append("tansu")
        return restarted

    def stop(self) -> None:
        """Tansu first (it writes through to storage), then SeaweedFS."""
        if self.tansu is not None:
            self.tansu.stop()
        if self.storage is not None:
            self.storage.stop()
