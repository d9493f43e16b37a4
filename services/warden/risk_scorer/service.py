"""The risk-scorer shell: agent.events and policy.decisions in, risk.scores and routed approvals out, on the runtime.

agent.events is consumed in a group; for every partition p it owns, the runtime also reads
policy.decisions partition p (a co-partitioned input: both topics are keyed by run_id with the
same partitioner and partition count, so a call's decision is on the same partition number as
the call). State is per partition and checkpointed with the next offset of both topics. After a
crash the partition is restored and both topics are re-read from there; every output carries a
deterministic id (the event's id, or the route id of the call), so what is produced again lands once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from warden.core import topics
from warden.core.output import Output
from warden.kafka.clients import Fetch
from warden.risk_scorer.processor import PartitionState, RiskConfig, step
from warden.risk_scorer.settings import RiskScorerSettings
from warden.runtime.app import App
from warden.runtime.processor import BaseProcessor, Input, Record, Restored, Role

log = logging.getLogger("warden.risk_scorer")


class RiskProcessor(BaseProcessor[PartitionState]):
    name = "risk-scorer"
    dedupe = False  # as `warden replay`, which scores every record it reads
    seen_capacity = 0
    failure_counter = "scoring_failures"
    poll_timeout_s = 0.01
    fetch = Fetch(wait_ms=10)  # the SDK gate waits on our scores

    def __init__(self, settings: RiskScorerSettings, config: RiskConfig) -> None:
        self.config = config
        self.inputs = (Input(topics.AGENT_EVENTS, "warden.AgentEvent"),
                       Input(topics.POLICY_DECISIONS, "warden.PolicyDecision", Role.COPARTITIONED))
        self.batch_max_rows = settings.batch_max_rows
        self.checkpoint_every_s = settings.snapshot_every_s

    def initial(self, partition: int) -> PartitionState:
        return PartitionState()

    def step(self, state: PartitionState, record: Record) -> tuple[PartitionState, list[Output]]:
        return step(state, self.config, record.value)

    def dump(self, state: PartitionState) -> Any:
        return state.to_dict()

    def restore(self, data: Any, partition: int) -> PartitionState:
        return PartitionState.from_dict(data)

    def upgrade(self, snapshot_state: Any, next_offset: int, partition: int) -> Restored[PartitionState]:
        return Restored(PartitionState.from_dict(snapshot_state["partition"]),
                        {(topics.AGENT_EVENTS, partition): next_offset,
                         (topics.POLICY_DECISIONS, partition): int(snapshot_state["decisions_next"])}, [])


class RiskScorer(App):
    def __init__(self, settings: RiskScorerSettings) -> None:
        super().__init__(settings, "risk-scorer", linger_ms=2)
        self.risk_settings = settings
        self.config: RiskConfig = settings.risk_config()
        self.add(RiskProcessor(settings, self.config), settings.group_id, self.store_for(settings))

    def start(self) -> RiskScorer:
        super().start()
        log.info("risk-scorer: weights %s from %s, review share %.1f%%, state in %s", self.config.weights.version,
                 self.risk_settings.risk_weights, 100 * self.config.share, self.risk_settings.snapshot_dir)
        return self


def run_service(settings: RiskScorerSettings, stop: threading.Event) -> None:
    RiskScorer(settings).start().serve(stop)
