"""The controller's state as JSON and back, for checkpoints (times as epoch milliseconds)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from warden.core.errors import StateError
from warden.core.events import RunStatus
from warden.core.records import PolicyDecision, RolloutStage
from warden.rollout.controller import Clock, ControllerState, Early, Rollout, RunFacts
from warden.rollout.plan import RolloutPlan

FORMAT = 1


def _ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def _at(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _run(f: RunFacts) -> list[Any]:
    return [f.workflow, f.tenant_id, f.release, f.candidate, _ms(f.started_at), _ms(f.completed_at),
            f.status.value if f.status else None, f.spend_usd, _ms(f.first_deny_at), _ms(f.first_page_at)]


def _facts(row: list[Any]) -> RunFacts:
    workflow, tenant, release, candidate, started, completed, status, spend, deny, page = row
    started_at = _at(started)
    assert started_at is not None
    return RunFacts(workflow, tenant, release, bool(candidate), started_at, _at(completed),
                    RunStatus(status) if status else None, float(spend), _at(deny), _at(page))


def dump(state: ControllerState) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "rollouts": [{"stage": r.stage.model_dump(mode="json"), "next_cutoff": _ms(r.next_cutoff),
                      "held_at": _ms(r.held_at),
                      "runs": {run_id: _run(f) for run_id, f in r.runs.items()}} for r in state.rollouts.values()],
        "early": [[run_id, _ms(e.first_deny_at), _ms(e.first_page_at),
                   e.stop_ship.model_dump(mode="json") if e.stop_ship else None] for run_id, e in state.early.items()],
        "commands": list(state.commands),
        "clock": {"newest": state.clock.newest, "idle": sorted(state.clock.idle)},
    }


def restore(data: Any) -> ControllerState:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else data
        raise StateError(f"rollout-controller snapshot has format {found!r:.40}, expected {FORMAT}")
    try:
        state = ControllerState()
        for item in data["rollouts"]:
            stage = RolloutStage.model_validate(item["stage"])
            next_cutoff = _at(item["next_cutoff"])
            assert next_cutoff is not None
            rollout = Rollout(stage, RolloutPlan.from_json(stage.plan), next_cutoff,
                              {run_id: _facts(row) for run_id, row in item["runs"].items()},
                              _at(item.get("held_at")))  # absent from checkpoints written before it
            state.rollouts[stage.workflow] = rollout
            state.run_workflow.update(dict.fromkeys(rollout.runs, stage.workflow))
        state.early = OrderedDict((run_id, Early(_at(deny), _at(page), PolicyDecision.model_validate(stop) if stop
                                                 else None)) for run_id, deny, page, stop in data["early"])
        state.commands = OrderedDict.fromkeys(data["commands"])
        state.clock = Clock(dict(data["clock"]["newest"]), set(data["clock"]["idle"]))
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise StateError(f"rollout-controller snapshot is malformed: {exc!r}") from exc
    return state
