"""Rollouts over HTTP, on the approvals service's app and its bearer tokens (the identity is the actor).

Routes (README "Rollouts" has the request and response of each):
  GET  /v1/rollouts                      every rollout's gate view
  GET  /v1/rollouts/{workflow}           one rollout's gate view
  POST /v1/rollouts/{workflow}/start     {"candidate", "baseline", "steps", "min_runs", ..., "gates", "reason"}
  POST /v1/rollouts/{workflow}/{action}  promote | pause | resume | rollback, {"reason"}
  GET|POST /v1/rollouts/{workflow}/gate  the gate view, always 200 (Argo Rollouts' web metric provider)
  POST /v1/rollouts/{workflow}/confirm   200 when the verdict is pass, else 412 (a Flagger webhook)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from warden.core.errors import ConfigError, ValidationError, WardenError
from warden.core.records import RolloutAction
from warden.core.settings import WardenSettings
from warden.core.workflows import load_contracts
from warden.rollout.plan import parse_plan, resolve
from warden.rollout.views import stage_view
from warden.rollout_controller.operate import RolloutError, Rollouts

# A rationale rides on the control topic in the command record: far past this, the broker refuses the record
# (MSG_SIZE_TOO_LARGE) and the request was a 500 with the producer's traceback.
REASON_MAX_CHARS = 10_000


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(..., max_length=REASON_MAX_CHARS, description="Why: recorded with the decision")


class StartRequest(BaseModel):
    """Unknown keys are refused by name, as in a plan file: a typo (`"min_run": 10`, `"aproval_after_step"`)
    would otherwise start the rollout on the defaults, silently. Numbers are strict, as RolloutPlan's: not
    "0.2" or true."""

    model_config = ConfigDict(extra="forbid")

    candidate: str
    baseline: str
    steps: list[StrictInt] = [5, 25, 100]
    min_runs: StrictInt | None = None
    hold_minutes: StrictFloat | None = None
    approval_after_step: StrictInt | None = None
    judge_every_minutes: StrictFloat | None = None
    max_hold_minutes: StrictFloat | None = None
    confidence: StrictFloat | None = None
    start_at: datetime | None = None
    require_eval: StrictBool | None = None
    eval_max_age_days: StrictFloat | None = None
    gates: dict[str, StrictFloat] = Field(default_factory=dict)
    reason: str = Field(..., max_length=REASON_MAX_CHARS)


T = TypeVar("T")


def rollout_router(settings: WardenSettings, who_is: Any,
                   may_change: Callable[[str, str, str], None] = lambda who, action, workflow: None) -> APIRouter:
    """`who_is`: the app's bearer-token dependency (its identity is the actor of every command);
    `may_change(who, action, workflow)`: raises (403, recorded) when that approver may not change the
    rollout. A rollout moves a workflow's traffic for every tenant, so it takes the right to set
    switches beyond one tenant; reading a rollout (status, gate, confirm) takes any approver token."""
    router = APIRouter(prefix="/v1/rollouts", tags=["rollouts"])
    lock = threading.Lock()
    holder: list[Rollouts] = []

    def rollouts() -> Rollouts:
        """Followed from the first request on (the service starts without waiting for these topics)."""
        with lock:
            if not holder:
                holder.append(Rollouts(settings))
            found = holder[0]
        found.wait_ready()
        return found

    def answer(call: Callable[[], T]) -> T:
        try:
            return call()
        except RolloutError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        except (ConfigError, ValidationError) as exc:
            raise HTTPException(422, str(exc)) from exc
        except WardenError as exc:
            raise HTTPException(503, str(exc)) from exc

    def view(workflow: str) -> dict[str, Any]:
        found = rollouts()
        gate = found.gate(workflow)
        stage = found.stage(workflow)
        return {**gate, "stage": stage_view(stage) if stage else None}

    @router.get("")
    def every(who: str = who_is) -> list[dict[str, Any]]:
        return answer(lambda: [view(name) for name in rollouts().workflows()])

    @router.get("/{workflow}")
    def one(workflow: str, who: str = who_is) -> dict[str, Any]:
        return answer(lambda: view(workflow))

    @router.api_route("/{workflow}/gate", methods=["GET", "POST"])
    def gate(workflow: str, who: str = who_is) -> dict[str, Any]:
        return answer(lambda: rollouts().gate(workflow))

    @router.post("/{workflow}/confirm")
    async def confirm(workflow: str, request: Request, who: str = who_is) -> JSONResponse:
        await request.body()  # Flagger's payload (name, namespace, phase, metadata) says nothing Warden needs
        body = answer(lambda: rollouts().gate(workflow))
        return JSONResponse(body, status_code=200 if body["verdict"] == "pass" else 412)

    @router.post("/{workflow}/start")
    def start(workflow: str, body: StartRequest, who: str = who_is) -> dict[str, Any]:
        may_change(who, "start", workflow)

        def go() -> dict[str, Any]:
            table = {k: v for k, v in body.model_dump(exclude={"reason", "gates"}).items() if v is not None}
            plan = parse_plan({"rollout": {**table, "workflow": workflow, "gates": body.gates}}, "request")
            plan = resolve(plan, load_contracts())
            return {**stage_view(rollouts().send(RolloutAction.START, workflow, who, body.reason, plan)), "by": who}
        return answer(go)

    @router.post("/{workflow}/{action}")
    def act(workflow: str, action: str, body: Reason, who: str = who_is) -> dict[str, Any]:
        allowed = {a.value: a for a in RolloutAction if a != RolloutAction.START}
        if action not in allowed:
            raise HTTPException(404, f"unknown rollout action {action!r}; expected one of {', '.join(allowed)}")
        may_change(who, action, workflow)
        return answer(lambda: {**stage_view(rollouts().send(allowed[action], workflow, who, body.reason)), "by": who})

    return router
