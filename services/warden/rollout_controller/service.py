"""The rollout-controller shell on the shared runtime: declarations only, the decisions are in
warden.rollout.controller.

One state for every rollout (scope WHOLE, every partition of every input on the one replica):
gates compare a workflow's runs, which are spread over every partition. The state (runs of each
step, the clock, applied commands) is checkpointed by the runtime with the input positions; the
rollout stages themselves are on the control topic, so the SDK, the CLI and a controller that lost
its checkpoint all read where every rollout stands from there.

The clock waits for every agent-event partition (see the controller's docstring). The runtime does
not say when a partition is at its end, so this shell calls the input idle once nothing at all has
arrived for `rollout_idle_after_s` of wall time (the consumer has read everything there is); the
next record anywhere makes every partition hold the clock again until it delivers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from warden.core import topics
from warden.core.headers import Routing
from warden.core.output import Output
from warden.rollout import controller, snapshot
from warden.rollout.controller import ControllerState
from warden.rollout.event_view import AgentEventView
from warden.rollout_controller.settings import RolloutControllerSettings
from warden.runtime.app import App
from warden.runtime.processor import BaseProcessor, Input, Membership, Passed, Record, Role, Scope

log = logging.getLogger("warden.rollout_controller")
NAME = "rollout-controller"


def source(partition: int) -> str:
    return f"{topics.AGENT_EVENTS}[{partition}]"


_SOURCES = [source(p) for p in range(topics.PARTITIONS[topics.AGENT_EVENTS])]  # made once, read per record


class RolloutProcessor(BaseProcessor[ControllerState]):
    name = NAME
    scope = Scope.WHOLE
    membership = Membership.ALL  # one replica reads everything (compose: replicas 1)
    dedupe = True  # a re-sent event, decision or page is stepped once

    def __init__(self, settings: RolloutControllerSettings) -> None:
        self.settings = settings
        self.config = settings.controller_config()
        self.inputs = (Input(topics.AGENT_EVENTS, "warden.AgentEvent", reads=controller.READS, view=AgentEventView),
                       Input(topics.POLICY_DECISIONS, "warden.PolicyDecision"),
                       Input(topics.ALERTS, "warden.Alert"),
                       Input(topics.APPROVAL_DECISIONS, "warden.ApprovalDecision"),
                       Input(topics.CONTROL, "warden.Control", Role.BROADCAST))
        self.batch_max_rows = settings.batch_max_rows
        self.checkpoint_every_s = settings.snapshot_every_s
        self.partitions = topics.PARTITIONS[topics.AGENT_EVENTS]

    def _register(self, state: ControllerState) -> ControllerState:
        for p in range(self.partitions):
            state.clock.register(source(p))
        state.clock.idle.clear()  # after a restart every partition holds the clock until it is heard from
        return state

    def initial(self, partition: int) -> ControllerState:
        return self._register(ControllerState())

    def restore(self, data: Any, partition: int) -> ControllerState:
        return self._register(snapshot.restore(data))

    def dump(self, state: ControllerState) -> Any:
        return snapshot.dump(state)

    def step(self, state: ControllerState, record: Record) -> tuple[ControllerState, list[Output]]:
        # The view is what the runtime hands it (an exact type test first: isinstance on pydantic's ABC is slower)
        event = type(record.value) is AgentEventView or isinstance(record.value, controller.EVENTS)
        where = _SOURCES[record.partition] if event else record.topic
        return controller.step(state, self.config, record.value, where)

    def wants(self, state: ControllerState, routing: Routing, key: str | None) -> bool:
        return controller.wants(state, routing.event_type, routing.workflow, key)

    def passed(self, state: ControllerState, record: Passed) -> tuple[ControllerState, list[Output]]:
        return controller.passed(state, self.config, _SOURCES[record.partition], record.routing.occurred_ms)

    def passed_newest(self, state: ControllerState,
                      newest: Mapping[tuple[str, int], int]) -> tuple[ControllerState, list[Output]]:
        return controller.passed_many(state, self.config, [(_SOURCES[p], ms) for (_, p), ms in newest.items()])

    def tick(self, state: ControllerState, quiet_s: float) -> tuple[ControllerState, list[Output]]:
        if quiet_s < self.settings.rollout_idle_after_s or state.clock.idle >= set(state.clock.newest):
            return state, []
        return controller.idle(state, self.config)


class RolloutController(App):
    def __init__(self, settings: RolloutControllerSettings) -> None:
        super().__init__(settings, NAME, linger_ms=2)
        self.processor = RolloutProcessor(settings)
        self.task = self.add(self.processor, settings.group_id, self.store_for(settings))

    @property
    def state(self) -> ControllerState:
        return self.task.slots[0].state


def run_service(settings: RolloutControllerSettings, stop: threading.Event) -> None:
    RolloutController(settings).start().serve(stop)
