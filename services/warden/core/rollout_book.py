"""Every workflow's rollout stage as the control topic says: what the SDK assigns units from.

Only the rollout-controller writes stage records, one workflow's on one key of the one-partition
control topic, so the latest one wins: a new rollout (another id) replaces the last, and within a
rollout a record with a lower or equal seq is an echo (a controller that re-made it after a restart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from warden.core.records import Control, RolloutStage


@dataclass
class RolloutBook:
    stages: dict[str, RolloutStage] = field(default_factory=dict)  # by workflow
    # When each stage last changed (its record's time): a rollback or a pause leaves step_started_at as it
    # was, so "rolled_back since" needs this, not the step's start.
    changed_at: dict[str, datetime] = field(default_factory=dict)  # by workflow

    def apply(self, control: Control) -> None:
        stage = control.rollout
        if stage is None:
            return
        current = self.stages.get(stage.workflow)
        if current is None or current.rollout_id != stage.rollout_id or stage.seq > current.seq:
            self.stages[stage.workflow] = stage
            self.changed_at[stage.workflow] = control.at

    def get(self, workflow: str) -> RolloutStage | None:
        return self.stages.get(workflow)
