"""`warden kill | revive | switches` as an operator runs them: as their token's identity, through the
approvals API (or --direct), and one clear line within seconds when the stack is not there."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.approvals.test_service import TOKENS, serve
from tests.cli.test_up import clean_env
from tests.ledger_sink.helpers import sink_settings, wait_for
from tests.running import in_thread
from warden.broker.tansu import free_port
from warden.core.settings import WardenSettings
from warden.kafka.control import ControlView
from warden.ledger.client import Ledger
from warden.ledger_sink.service import LedgerSink
from warden.stack import warden_command

SCOPED = {**TOKENS, "sam@globex.com": {"token": "tok-sam-5d1e", "tenants": ["globex"]}}


def warden(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # generous: a shared machine; the point is that it exits, with one line, not how fast
    return subprocess.run([*warden_command(), *args], capture_output=True, text=True, timeout=90, env=env)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def stack_env(topics: WardenSettings, ledger: Ledger) -> Iterator[dict[str, str]]:
    """The approvals API and a ledger-sink serving queries on the test's topics, as `warden up` runs them."""
    with in_thread(LedgerSink(sink_settings(topics, ledger, serve_queries=True), ledger).start()):
        for url in serve(topics, approver_tokens=SCOPED):
            yield clean_env(KAFKA_BOOTSTRAP_SERVERS=topics.bootstrap_servers, WARDEN_TOPIC_PREFIX=topics.topic_prefix,
                            WARDEN_DATA_DIR=str(topics.data_dir), WARDEN_CLICKHOUSE_DATABASE=ledger.database,
                            WARDEN_APPROVALS_URL=url, WARDEN_APPROVER_TOKEN=TOKENS["eve@acme.com"], COLUMNS="80")


@pytest.mark.integration
def test_a_switch_is_recorded_as_the_tokens_identity_never_the_os_user(
        topics: WardenSettings, stack_env: dict[str, str]) -> None:
    view = ControlView(topics)
    try:
        done = warden("kill", "tool:payments.refund", "--reason", "duplicate refunds", env=stack_env)
        assert done.returncode == 0, done.stderr
        assert "kill tool:payments.refund ON by eve@acme.com" in done.stdout
        wait_for(lambda: not view.is_enabled("acme", "refund_ticket", "payments", "refund"), what="the switch")
        assert view.switches.active["kill:tool:payments.refund"].actor == "eve@acme.com"
        refused = warden("kill", "tool:payments", "--read-only", "--reason", "x", env=stack_env)
        assert refused.returncode == 2 and "read-only mode applies to" in refused.stderr
        sam = warden("kill", "global", "--reason", "x", "--token", "tok-sam-5d1e", env=stack_env)
        assert sam.returncode == 1 and "HTTP 403" in one_line(sam) and "sam@globex.com may not set" in sam.stderr
        nobody = warden("kill", "global", "--reason", "x", "--token", "guess", env=stack_env)
        assert nobody.returncode == 1 and "HTTP 401" in one_line(nobody)

        shown = warden("switches", env=stack_env)
        assert shown.returncode == 0, shown.stderr
        text = " ".join(shown.stdout.split())
        assert "1 switch(es) in force" in text and "tool:payments.refund" in text and "eve@acme.com" in text
        wait_for(lambda: "eve@acme.com" in warden("switches", "--format", "json", env=stack_env).stdout,
                 what="the change in the ledger")
        listed = json.loads(warden("switches", "--format", "json", env=stack_env).stdout)
        assert [(s["scope"], s["actor"]) for s in listed["in_force"]] == [("tool:payments.refund", "eve@acme.com")]
        assert [(h["scope"], h["active"], h["actor"]) for h in listed["history"]] == [
            ("tool:payments.refund", True, "eve@acme.com")]

        assert warden("revive", "tool:payments.refund", "--reason", "fixed", env=stack_env).returncode == 0
        wait_for(lambda: view.is_enabled("acme", "refund_ticket", "payments", "refund"), what="the revive")
    finally:
        view.close()


@pytest.mark.integration
def test_a_revive_of_the_wrong_kind_fails_naming_the_switch_that_is_on(stack_env: dict[str, str]) -> None:
    """Old code printed "kill workflow:refund_ticket off", exited 0 and left read-only mode on."""
    assert warden("kill", "workflow:refund_ticket", "--read-only", "-r", "degraded", env=stack_env).returncode == 0
    wrong = warden("revive", "workflow:refund_ticket", "-r", "fixed", env=stack_env)
    assert wrong.returncode == 1 and "off" not in wrong.stdout
    assert "HTTP 409" in one_line(wrong) and "read-only mode is on: revive it with --read-only" in wrong.stderr
    right = warden("revive", "workflow:refund_ticket", "--read-only", "-r", "fixed", env=stack_env)
    assert right.returncode == 0 and "read_only workflow:refund_ticket off" in right.stdout


@pytest.mark.integration
def test_direct_refuses_a_revive_of_the_wrong_kind_too(topics: WardenSettings) -> None:
    env = clean_env(KAFKA_BOOTSTRAP_SERVERS=topics.bootstrap_servers, WARDEN_TOPIC_PREFIX=topics.topic_prefix,
                    WARDEN_DATA_DIR=str(topics.data_dir), WARDEN_APPROVER_TOKENS=json.dumps(SCOPED),
                    WARDEN_APPROVER_TOKEN=TOKENS["dana@acme.com"], COLUMNS="80")
    assert warden("kill", "tenant:acme", "--direct", "-r", "incident", env=env).returncode == 0
    mirror = warden("revive", "tenant:acme", "--read-only", "--direct", "-r", "fixed", env=env)
    assert mirror.returncode == 1
    assert "tenant:acme has no read-only mode on; kill switch is on: revive it without --read-only" in mirror.stderr
    assert warden("revive", "tenant:acme", "--direct", "-r", "fixed", env=env).returncode == 0


@pytest.mark.integration
def test_direct_needs_a_known_token_and_applies_the_same_scopes(topics: WardenSettings) -> None:
    """The escape hatch for a broken approvals service: no API, the same identity and scope rule."""
    env = clean_env(KAFKA_BOOTSTRAP_SERVERS=topics.bootstrap_servers, WARDEN_TOPIC_PREFIX=topics.topic_prefix,
                    WARDEN_DATA_DIR=str(topics.data_dir), WARDEN_APPROVER_TOKENS=json.dumps(SCOPED),
                    WARDEN_APPROVALS_URL=f"http://127.0.0.1:{free_port()}", COLUMNS="80")
    view = ControlView(topics)
    try:
        unknown = warden("kill", "tenant:acme", "--direct", "--reason", "x", "--token", "guess", env=env)
        assert unknown.returncode == 2 and "none of WARDEN_APPROVER_TOKENS" in one_line(unknown)
        sam = warden("kill", "tenant:acme", "--direct", "--reason", "x", "--token", "tok-sam-5d1e", env=env)
        assert sam.returncode == 1 and "sam@globex.com may not set switch tenant:acme" in sam.stderr
        done = warden("kill", "tenant:acme", "--direct", "--reason", "payments down, approvals down too",
                      "--token", TOKENS["dana@acme.com"], env=env)
        assert done.returncode == 0, done.stderr
        assert "kill tenant:acme ON by dana@acme.com" in done.stdout
        wait_for(lambda: "kill:tenant:acme" in view.switches.active, what="the direct switch")
        assert view.switches.active["kill:tenant:acme"].actor == "dana@acme.com"
    finally:
        view.close()


def test_without_a_stack_each_command_fails_with_one_line_naming_the_address() -> None:
    """Issue 18: `warden kill` with no stack waited 15 s and printed 71 librdkafka lines."""
    port = free_port()
    broker = f"127.0.0.1:{port}"  # the embedded broker's address, with nothing listening
    api = f"http://127.0.0.1:{free_port()}"
    env = clean_env(WARDEN_EMBEDDED_BROKER_PORT=str(port), WARDEN_APPROVALS_URL=api, WARDEN_APPROVER_TOKEN="t",
                    WARDEN_APPROVER_TOKENS='{"ops@acme.com": "t"}', COLUMNS="80")
    for args, where in ((("kill", "global", "-r", "x"), api), (("revive", "global", "-r", "x"), api),
                        (("kill", "global", "-r", "x", "--direct"), broker), (("switches",), broker),
                        (("rollout", "status"), api), (("rollout", "pause", "refund_ticket", "-r", "x"), api),
                        (("approvals", "list"), api)):
        done = warden(*args, env=env)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        line = one_line(done)
        assert where in line and "is `warden up` running?" in line, (args, line)


def test_the_approvals_url_defaults_to_the_approvals_service_on_this_machine() -> None:
    """WARDEN_APPROVALS_PORT moved the service and not the CLI: `warden approvals` still went to :8787."""
    assert WardenSettings(approvals_url=None, approvals_port=47123).approvals_api_url == "http://127.0.0.1:47123"
    wildcard = WardenSettings(approvals_url=None, approvals_host="0.0.0.0", approvals_port=47124)
    assert wildcard.approvals_api_url == "http://127.0.0.1:47124"  # a wildcard bind is reached on loopback
    assert WardenSettings(approvals_url=None, approvals_host="::1").local_approvals_url == "http://[::1]:8787"
    elsewhere = WardenSettings(approvals_url="https://approvals.acme.internal/", approvals_port=47125)
    assert elsewhere.approvals_api_url == "https://approvals.acme.internal"  # set: it wins, whatever the port


@pytest.mark.integration
def test_the_approvals_port_alone_is_enough_for_the_cli(topics: WardenSettings) -> None:
    for url in serve(topics, approver_tokens=SCOPED):
        port = url.rsplit(":", 1)[1]
        env = clean_env(KAFKA_BOOTSTRAP_SERVERS=topics.bootstrap_servers, WARDEN_TOPIC_PREFIX=topics.topic_prefix,
                        WARDEN_DATA_DIR=str(topics.data_dir), WARDEN_APPROVALS_PORT=port,
                        WARDEN_APPROVER_TOKEN=TOKENS["eve@acme.com"], COLUMNS="80")
        assert "WARDEN_APPROVALS_URL" not in env
        listed = warden("approvals", "list", env=env)
        assert listed.returncode == 0, listed.stderr  # old code: unreachable at http://127.0.0.1:8787
        assert "0 pending approval(s)" in listed.stdout


def test_rollout_status_keeps_the_operators_rationale_under_the_holds_after_it() -> None:
    """A manual promote's --reason was in `rationale` only; the holds after it showed the controller's words."""
    from warden.cli.rollout import status_line

    view = {"baseline": "v3", "candidate": "v4", "percent": 25, "status": "running",
            "changed_at": "2026-12-02T17:05:00.000Z", "stage": {"step_started_at": "2026-12-02T17:05:00.000Z"},
            "verdict": "wait", "decision": "hold", "reason": "too few runs at 25%: 3 of 20",
            "change": {"decision": "promote", "decided_at": "2026-12-02T17:05:00.000Z", "actor": "dana@acme.com",
                       "rationale": "5% looked fine", "reason": "promoted from 5% by dana@acme.com"}}
    assert status_line(view) == (' v3 -> v4: 25% running since 2026-12-02T17:05:00.000Z (verdict wait); last: hold: '
                                 'too few runs at 25%: 3 of 20; promote by dana@acme.com (rationale: "5% looked fine")')
    started = {**view, "change": None, "changed_at": None}  # no rationale to show; an older server: the step start
    assert status_line(started).endswith("since 2026-12-02T17:05:00.000Z (verdict wait); last: hold: too few runs "
                                         "at 25%: 3 of 20")


def test_rollout_status_says_the_step_and_since_when_the_operator_changed_it() -> None:
    """As Argo Rollouts' `get rollout` (Step 2/3): and "since" is the operator's own time of the command
    (commanded_at), with the event time the controller counted it at beside it when that differs. Fails on the
    old code: no step, and "since" was the event time only (on a quiet stack, every command's the same)."""
    from warden.cli.rollout import status_line

    stage: dict[str, Any] = {"step_started_at": "2026-12-02T17:05:00.000Z", "steps": [5, 25, 100], "step_index": 1,
                             "approval_call_id": "rollout:r1:1:1764695100000"}
    change = {"decision": "hold", "decided_at": "2026-12-02T17:05:00.000Z", "commanded_at": "2026-12-02T17:41:12.500Z",
              "actor": "dana@acme.com", "rationale": "25% looked fine",
              "reason": "promotion from 25% to 100% asked by dana@acme.com waits for approval"}
    view: dict[str, Any] = {"baseline": "v3", "candidate": "v4", "percent": 25, "status": "awaiting_approval",
            "changed_at": "2026-12-02T17:05:00.000Z", "stage": stage, "verdict": "wait", "decision": "hold",
            "reason": "promotion from 25% to 100% asked by dana@acme.com waits for approval", "change": change}
    assert status_line(view) == (
        " v3 -> v4 (step 2/3): 25% awaiting_approval since 2026-12-02T17:41:12.500Z (event time "
        "2026-12-02T17:05:00.000Z) (verdict wait); last: hold: promotion from 25% to 100% asked by dana@acme.com "
        'waits for approval (rationale: "25% looked fine"); approve or reject: warden approvals list '
        "(call rollout:r1:1:1764695100000)")
    same = {**view, "change": {**change, "commanded_at": "2026-12-02T17:05:00.000Z"}}
    assert "since 2026-12-02T17:05:00.000Z (verdict wait)" in status_line(same)


def test_rollout_promote_says_when_the_promotion_waits_for_an_approver(capsys: pytest.CaptureFixture[str]) -> None:
    from warden.cli.rollout import _said

    _said({"workflow": "refund_ticket", "baseline": "v3", "candidate": "v4", "percent": 25,
           "status": "awaiting_approval", "steps": [5, 25, 100], "step_index": 1,
           "approval_call_id": "rollout:r1:1:1764695100000", "by": "dana@acme.com"})
    said = " ".join(capsys.readouterr().out.split())
    assert said == ("rollout refund_ticket v3 -> v4: 25% (awaiting_approval) by dana@acme.com promotion to 100% waits "
                    "for a named approver: warden approvals list, then warden approvals approve|reject "
                    'rollout:r1:1:1764695100000 --rationale "..."')
