"""Rollouts over HTTP (the approvals app, its tokens) and the CLI, with a live rollout-controller."""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.approvals.test_service import TOKENS, auth, serve
from tests.ledger_sink.helpers import produce, wait_for
from tests.rollout.helpers import traffic
from tests.rollout.test_evidence import eval_run, landed
from tests.running import in_thread
from warden.cli.rollout import build_plan
from warden.core.records import RolloutAction, RolloutCommand, RolloutStatus
from warden.core.settings import WardenSettings
from warden.kafka.control import publish_control
from warden.ledger.client import Ledger
from warden.rollout.controller import command_record
from warden.rollout_controller.operate import RolloutError, Rollouts
from warden.rollout_controller.service import RolloutController
from warden.rollout_controller.settings import RolloutControllerSettings
from warden.stack import warden_command

pytestmark = pytest.mark.integration
START = {"candidate": "v4", "baseline": "v3", "steps": [5, 25, 100], "min_runs": 20, "hold_minutes": 10,
         "gates": {"cost_increase_vs_baseline_max": 0.2}, "reason": "ship v4"}


@pytest.fixture
def api(topics: WardenSettings) -> Iterator[str]:
    fields: dict[str, Any] = {**topics.model_dump(), "group_id": f"rc-{uuid.uuid4().hex[:8]}"}
    with in_thread(RolloutController(RolloutControllerSettings(**fields)).start()):
        yield from serve(topics)


def post(api: str, path: str, body: dict[str, Any], who: str = "eve@acme.com") -> httpx.Response:
    return httpx.post(f"{api}/v1/rollouts/{path}", json=body, headers=auth(who), timeout=30)


def get(api: str, path: str) -> dict[str, Any]:
    response = httpx.get(f"{api}/v1/rollouts/{path}", headers=auth("eve@acme.com"), timeout=30)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_start_pause_resume_promote_and_a_gate_rollback_over_http(topics: WardenSettings, api: str) -> None:
    assert httpx.post(f"{api}/v1/rollouts/refund_ticket/start", json=START, timeout=10).status_code == 401
    started = post(api, "refund_ticket/start", START)
    assert started.status_code == 200, started.text
    assert (started.json()["percent"], started.json()["status"]) == (5, "running")
    assert post(api, "refund_ticket/start", START).status_code == 409  # one live rollout per workflow
    bad = post(api, "refund_ticket/start", {**START, "steps": [5, 25], "reason": "x"})
    assert bad.status_code == 422 and "the last step must be 100" in bad.text
    assert post(api, "refund_ticket/pause", {"reason": "looking"}).json()["status"] == "paused"
    assert post(api, "refund_ticket/resume", {"reason": "fine"}).json()["status"] == "running"
    promoted = post(api, "refund_ticket/promote", {"reason": "5% looked fine"}, who="dana@acme.com")
    assert promoted.json()["percent"] == 25
    assert post(api, "refund_ticket/explode", {"reason": "x"}).status_code == 404
    gate = get(api, "refund_ticket/gate")
    assert (gate["verdict"], gate["ok"], gate["decision"]) == ("wait", False, "promote")
    confirm = httpx.post(f"{api}/v1/rollouts/refund_ticket/confirm", headers=auth("eve@acme.com"), timeout=30,
                         json={"name": "refund", "namespace": "agents", "phase": "Promoting", "metadata": {}})
    assert confirm.status_code == 412 and confirm.json()["verdict"] == "wait"

    step_start = datetime.fromisoformat(get(api, "refund_ticket")["stage"]["step_started_at"].replace("Z", "+00:00"))
    # the candidate costs twice the baseline: judged 10 minutes (event time) into the 25% step
    produce(topics, traffic(step_start + timedelta(seconds=1), 80, candidate_cost=0.10, baseline_cost=0.05,
                            vary=0.005))
    # the verdict follows the control topic, the decision the decisions topic: two followers, so under
    # load one may be a moment behind the other
    wait_for(lambda: (lambda g: (g["verdict"], g["decision"]) == ("fail", "rollback"))(get(api, "refund_ticket/gate")),
             what="the rollback")
    gate = get(api, "refund_ticket/gate")
    assert gate["status"] == "rolled_back" and gate["decision"] == "rollback" and gate["percent"] == 0
    assert gate["metrics"]["cost_increase_vs_baseline"]["verdict"] == "fail"
    assert gate["metrics"]["cost_increase_vs_baseline"]["runs"] >= 20
    assert post(api, "refund_ticket/promote", {"reason": "x"}).status_code == 409  # nothing live to promote
    assert [v["workflow"] for v in httpx.get(f"{api}/v1/rollouts", headers=auth("eve@acme.com"),
                                             timeout=30).json()] == ["refund_ticket"]


def test_the_cli_starts_shows_and_rolls_back_as_the_tokens_identity(topics: WardenSettings, api: str) -> None:
    env = {**os.environ, "WARDEN_APPROVALS_URL": api, "WARDEN_APPROVER_TOKEN": TOKENS["eve@acme.com"]}

    def warden(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*warden_command(), "rollout", *args], capture_output=True, text=True, timeout=120,
                              env=env)

    done = warden("start", "triage_ticket", "--candidate", "t2", "--baseline", "t1", "--steps", "10,50,100",
                  "--gate", "cost_increase_vs_baseline_max=0.25", "--reason", "new prompt")
    assert done.returncode == 0, done.stderr
    assert "triage_ticket t1 -> t2: 10% (running) by eve@acme.com" in done.stdout
    shown = warden("status", "triage_ticket")
    text = " ".join(shown.stdout.split())
    assert shown.returncode == 0 and "10% running" in text and "(verdict wait); last: start" in text
    bad = warden("start", "triage_ticket", "--candidate", "t3", "--baseline", "t1", "--steps", "10,5", "--reason", "x")
    assert bad.returncode == 2 and "steps must increase" in bad.stderr.replace("\n", " ")
    back = warden("rollback", "triage_ticket", "--reason", "customer complaints")
    assert back.returncode == 0 and "0% (rolled_back) by eve@acme.com" in back.stdout
    # since the rollback, not since the rollout started; and the operator's --reason, not only the controller's
    # words (old code: "rolled_back since <the 10% step's start>", no rationale)
    view = get(api, "triage_ticket")
    assert view["changed_at"] > view["stage"]["step_started_at"]

    def status_after_rollback() -> str:
        return " ".join(warden("status", "triage_ticket").stdout.split())

    wait_for(lambda: "rationale" in status_after_rollback(), what="the rollback decision in the status")
    text = status_after_rollback()
    assert f"0% rolled_back since {view['changed_at']} (verdict fail)" in text, text
    assert 'last: rollback: rolled back from 10% by eve@acme.com (rationale: "customer complaints")' in text, text
    again = warden("pause", "triage_ticket", "--reason", "x")
    assert again.returncode == 1 and "no live rollout" in " ".join(again.stderr.split())


def test_changing_a_rollout_takes_global_switches_and_a_refusal_is_recorded(topics: WardenSettings) -> None:
    """A rollout moves a workflow's traffic for every tenant: a one-tenant approver may read it, not change it."""
    scoped = {**TOKENS, "sam@globex.com": {"token": "tok-sam-5d1e", "tenants": ["globex"]}}
    fields: dict[str, Any] = {**topics.model_dump(), "group_id": f"rc-{uuid.uuid4().hex[:8]}"}
    with in_thread(RolloutController(RolloutControllerSettings(**fields)).start()):
        for url in serve(topics, approver_tokens=scoped):
            sam = {"Authorization": "Bearer tok-sam-5d1e"}
            refused = httpx.post(f"{url}/v1/rollouts/refund_ticket/start", json=START, headers=sam, timeout=30)
            assert refused.status_code == 403 and "may not set global switches" in refused.text
            assert post(url, "refund_ticket/start", START).status_code == 200
            assert httpx.post(f"{url}/v1/rollouts/refund_ticket/rollback", json={"reason": "x"}, headers=sam,
                              timeout=30).status_code == 403
            assert httpx.get(f"{url}/v1/rollouts/refund_ticket/gate", headers=sam, timeout=30).status_code == 200


@pytest.fixture
def evaluated_api(topics: WardenSettings, ledger: Ledger, chdb_url: str) -> Iterator[str]:
    """The approvals app reading the test's ledger (eval_runs), and a live controller."""
    fields: dict[str, Any] = {**topics.model_dump(), "group_id": f"rc-{uuid.uuid4().hex[:8]}"}
    with in_thread(RolloutController(RolloutControllerSettings(**fields)).start()):
        yield from serve(topics, clickhouse_url=chdb_url, clickhouse_database=ledger.database)


def test_a_plan_that_requires_an_eval_starts_only_with_a_passing_one_in_the_ledger(ledger: Ledger,
                                                                                   evaluated_api: str) -> None:
    body = {**START, "require_eval": True, "eval_max_age_days": 2}
    refused = post(evaluated_api, "refund_ticket/start", body)
    assert refused.status_code == 409, refused.text
    assert "requires a passing eval of release v4 of refund_ticket" in refused.text
    assert "none completed in the last 2 days" in refused.text
    landed(ledger, eval_run("eval-v4", datetime.now(UTC) - timedelta(hours=1), True))
    started = post(evaluated_api, "refund_ticket/start", body)
    assert started.status_code == 200, started.text
    wait_for(lambda: "eval eval-v4 of v4 met its targets" in get(evaluated_api, "refund_ticket")["reason"],
             what="the start decision naming the eval")


def test_careless_requests_are_refused_by_name_and_start_nothing(topics: WardenSettings, api: str) -> None:
    """Each of these used to start a rollout on something else than asked (a typo'd key on its default, a
    typo'd workflow with no targets, true as step 1) or answer 500 (a rationale too large for the broker)."""
    typo = post(api, "refund_ticket/start", {**START, "min_run": 5, "aproval_after_step": 5})
    assert typo.status_code == 422 and "min_run" in typo.text and "aproval_after_step" in typo.text, typo.text
    unknown = post(api, "refund_tickt/start", START)
    assert unknown.status_code == 422, unknown.text
    assert "workflow 'refund_tickt' is not in policies/workflows.toml; expected one of" in unknown.json()["detail"]
    assert post(api, "refund_ticket/start", {**START, "steps": [True, 100]}).status_code == 422
    assert post(api, "refund_ticket/start", {**START, "hold_minutes": 1e15}).status_code == 422
    assert post(api, "refund_ticket/start", {**START, "reason": "x" * 20_000}).status_code == 422
    assert httpx.get(f"{api}/v1/rollouts", headers=auth("eve@acme.com"), timeout=30).json() == []
    assert post(api, "refund_ticket/start", START).status_code == 200
    huge = post(api, "refund_ticket/pause", {"reason": "x" * 20_000})  # 2 MB: a 413, see below
    assert huge.status_code == 422 and "at most 10000 characters" in huge.text, huge.text
    assert post(api, "refund_ticket/pause", {"reason": "looking", "force": True}).status_code == 422
    assert post(api, "refund_ticket/pause", {"reason": "looking"}).json()["status"] == "paused"
    again = post(api, "refund_ticket/pause", {"reason": "looking again"})  # was a 504 after 15 s
    assert again.status_code == 409 and "is paused at 5%: nothing to pause" in again.json()["detail"], again.text
    assert post(api, "refund_ticket/resume", {"reason": "fine"}).json()["status"] == "running"
    assert post(api, "refund_ticket/resume", {"reason": "fine"}).status_code == 409


def test_a_promotion_overtaken_by_a_rollback_is_a_409_not_a_wait_for_a_controller(topics: WardenSettings) -> None:
    """A rollback read before a promotion ends the rollout, and the controller drops the promotion: the operator
    is told so at once, where the wait used to end in a 504 asking whether the controller was running."""
    fields: dict[str, Any] = {**topics.model_dump(), "group_id": f"rc-{uuid.uuid4().hex[:8]}"}
    operated = Rollouts(topics)
    try:
        with in_thread(RolloutController(RolloutControllerSettings(**fields)).start()):
            plan = build_plan("refund_ticket", "v4", "v3", None, None, {}, [], resolve=False)
            started = operated.send(RolloutAction.START, "refund_ticket", "eve@acme.com", "ship v4", plan)
        # the controller is down: a rollback is on the topic, not applied, and the promotion's check sees 5% live
        rollback = RolloutCommand(command_id=str(uuid.uuid4()), action=RolloutAction.ROLLBACK,
                                  workflow="refund_ticket", rollout_id=started.rollout_id, rationale="bad refunds")
        publish_control(topics, command_record(rollback, "dana@acme.com", datetime.now(UTC)),
                        f"rollout-command:{rollback.command_id}", "a rollback")
        failed: list[RolloutError] = []

        def promote() -> None:
            try:
                operated.send(RolloutAction.PROMOTE, "refund_ticket", "eve@acme.com", "5% looked fine", wait_s=40)
            except RolloutError as exc:
                failed.append(exc)

        waiting = threading.Thread(target=promote)
        waiting.start()
        wait_for(lambda: len(operated.control.rollouts.stages) == 1 and waiting.is_alive(), what="the promotion")
        with in_thread(RolloutController(RolloutControllerSettings(**fields)).start()):
            waiting.join(60)
        assert len(failed) == 1 and failed[0].status == 409, [(e.status, str(e)) for e in failed]
        assert "the rollout became rolled_back at 0% before this command was read" in str(failed[0])
        assert operated.stage("refund_ticket").status == RolloutStatus.ROLLED_BACK  # type: ignore[union-attr]
    finally:
        operated.close()


def test_a_body_over_the_limit_is_a_413_before_it_is_read_token_or_not(topics: WardenSettings, api: str) -> None:
    """300 MB from a client with no token was read whole (the process grew 220 MB) before the 401."""
    big = b'{"reason": "' + b"x" * (2 * 2**20) + b'"}'
    for headers in ({}, auth("eve@acme.com")):
        refused = httpx.post(f"{api}/v1/rollouts/refund_ticket/start", content=big, timeout=30,
                             headers={**headers, "content-type": "application/json"})
        assert refused.status_code == 413, refused.text
        assert "over the limit of 1048576 bytes (WARDEN_APPROVALS_MAX_BODY_BYTES)" in refused.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"reason": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    chunked = httpx.post(f"{api}/v1/rollouts/refund_ticket/confirm", content=chunks(), headers=auth("eve@acme.com"),
                         timeout=30)
    assert chunked.status_code == 413, chunked.text
    assert post(api, "refund_ticket/start", START).status_code == 200  # an ordinary request still goes through


def test_a_manual_promote_from_25_waits_for_a_named_approver_and_quiet_commands_keep_their_times(
        topics: WardenSettings, api: str) -> None:
    """The README walk: with no events arriving, `promote` from 25% went to 100% at once, no approver asked, and
    every command of the session had one decided_at. Now the second promote asks the approvals service and the
    rollout completes only on a named approver's decision; each command's change has its own time."""
    # one event an hour ago, then none: the controller's clock stands there
    produce(topics, traffic(datetime.now(UTC) - timedelta(hours=1), 1, prefix="quiet"))
    assert post(api, "refund_ticket/start", START).status_code == 200
    times = []
    for action in ("pause", "resume", "promote"):
        answer = post(api, f"refund_ticket/{action}", {"reason": f"{action} it"})
        assert answer.status_code == 200, answer.text
        wait_for(lambda a=action: (get(api, "refund_ticket/gate").get("change") or {}).get("decision") == a,  # type: ignore[misc]
                 what=f"the {action} decision")
        change = get(api, "refund_ticket/gate")["change"]
        assert change["commanded_at"] is not None
        times.append(change["decided_at"])
    assert len(set(times)) == 3 and times == sorted(times), times  # old code: one time for all three
    asked = post(api, "refund_ticket/promote", {"reason": "25% looked fine"}, who="dana@acme.com")
    assert asked.status_code == 200, asked.text
    assert (asked.json()["percent"], asked.json()["status"]) == (25, "awaiting_approval")  # old code: 100, completed
    call_id = asked.json()["approval_call_id"]

    def pending() -> list[str]:
        listed = httpx.get(f"{api}/v1/approvals", headers=auth("eve@acme.com"), timeout=30)
        return [item["call_id"] for item in listed.json()] if listed.status_code == 200 else []

    wait_for(lambda: call_id in pending(), what="the promotion request among the pending approvals")
    done = httpx.post(f"{api}/v1/approvals/{call_id}/approve", json={"rationale": "release notes reviewed"},
                      headers=auth("eve@acme.com"), timeout=30)
    assert done.status_code == 200, done.text
    wait_for(lambda: get(api, "refund_ticket")["status"] == "completed", what="the approved promotion")
    wait_for(lambda: (get(api, "refund_ticket/gate").get("change") or {}).get("decision") == "complete",
             what="the complete decision")
    change = get(api, "refund_ticket/gate")["change"]
    assert (change["actor"], change["rationale"]) == ("eve@acme.com", "release notes reviewed")
