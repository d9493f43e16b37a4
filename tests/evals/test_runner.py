"""The runner's verdicts on hand-written agents, exit codes, and decisions equal to replay's."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.evals.helpers import item, run_one, spec
from warden.core.errors import ConfigError
from warden.evals import Denied
from warden.evals.dataset import write
from warden.evals.runner import Case, EvalConfig, load_agent, run_eval
from warden.replay.runner import replay

REFUND: dict[str, Any] = {"fixture": {"tickets": {"t-1": {"status": "open"}}},
          "expect": {"state_change": {"refunds": [{"order_id": "o-1", "amount_usd": 20}]}, "status": "succeeded",
                     "forbidden_tools": ["crm.delete_record"], "max_steps": 20}}


def good(case: Case) -> None:
    case.run.llm_call("gpt-4o-mini", "openai", input_tokens=1_000_000, output_tokens=0, latency_ms=5.0)
    case.tools.call("payments", "refund", {"order_id": "o-1", "amount_usd": 20})
    case.run.completed("succeeded")


def test_a_good_agent_passes_with_cost_steps_and_latency() -> None:
    result = run_one(good, item(**REFUND)).result
    assert result.passed and result.reasons == [] and result.violations == []
    assert result.steps == 5  # started, llm_call, requested, completed, run_completed
    assert result.cost_usd == pytest.approx(0.15)  # 1M input tokens of gpt-4o-mini, priced by the price table
    assert result.latency_s is not None and result.latency_s >= 0 and result.state_change == {
        "refunds": [{"order_id": "o-1", "amount_usd": 20}]}


def test_the_agent_cannot_report_its_own_state_change() -> None:
    def liar(case: Case) -> None:
        case.run.completed("succeeded", state_change={"refunds": [{"order_id": "o-1", "amount_usd": 20}]})

    result = run_one(liar, item(**REFUND)).result
    assert not result.passed
    assert result.reasons == ['missing change refunds: expected an appended item {"order_id": "o-1", '
                              '"amount_usd": 20}, none appended']


def test_each_failed_expectation_is_a_reason() -> None:
    def sloppy(case: Case) -> None:
        with contextlib.suppress(Denied):
            case.tools.call("payments", "refund", {"order_id": "o-1", "amount_usd": 500})
        case.tools.call("payments", "refund", {"order_id": "o-1", "amount_usd": 25})
        case.tools.call("email", "send", {"to": "a@b.co", "subject": "s", "body": "b"})
        case.run.completed("escalated")

    expect = {**REFUND["expect"], "forbidden_tools": ["email.send"]}
    result = run_one(sloppy, item(fixture=REFUND["fixture"], expect=expect)).result
    assert result.reasons == [
        "status: expected succeeded, the run completed escalated",
        "wrong change refunds[+0].amount_usd: expected 20, got 25",
        'extra change outbox[+0]: appended {"to": "a@b.co", "subject": "s", "body": "b"}',
        "called forbidden tool email.send (allowed)",
    ]
    assert [v["code"] for v in result.violations] == ["approval_required"]


def test_too_many_steps_an_exception_and_an_unfinished_run_fail_the_item() -> None:
    def loops(case: Case) -> None:
        for _ in range(30):
            case.run.llm_call("m", "p", input_tokens=1, output_tokens=1, latency_ms=1.0, cost_usd=0.0)
        case.run.completed("succeeded")

    assert "steps: 32 > max_steps 20" in run_one(loops, item(**REFUND)).result.reasons

    def crashes(case: Case) -> None:
        raise RuntimeError("model timed out")

    crashed = run_one(crashes, item(**REFUND)).result
    assert crashed.reasons[0] == "the agent raised RuntimeError: model timed out" and crashed.status == "failed"

    def forgets(case: Case) -> None:
        case.tools.call("payments", "refund", {"order_id": "o-1", "amount_usd": 20})

    forgot = run_one(forgets, item(**REFUND)).result
    assert forgot.reasons == ["the agent did not complete the run (the harness completed it as aborted)",
                              "status: expected succeeded, the run completed aborted"]


def test_an_agent_past_its_item_timeout_fails_the_item_and_nothing_it_does_after_counts() -> None:
    release, after = threading.Event(), threading.Event()
    tried: list[BaseException] = []

    def hangs(case: Case) -> None:
        case.run.llm_call("gpt-4o-mini", "openai", input_tokens=10, output_tokens=1, latency_ms=1.0)
        release.wait(30)  # the model "hangs" until the harness has given up on the item
        try:
            case.tools.call("payments", "refund", {"order_id": "o-1", "amount_usd": 20})
        except BaseException as exc:
            tried.append(exc)
        finally:
            after.set()

    ran = run_one(hangs, item(**REFUND), EvalConfig(item_timeout_s=0.2))
    release.set()
    assert after.wait(30)
    result = ran.result
    assert result.reasons[0] == "timed out after 0.2 s (item timeout): nothing the agent did after that counts"
    assert result.status == "aborted" and result.state_change == {} and not result.passed
    assert [type(e).__name__ for e in tried] == ["ItemTimedOut"]
    assert [e.event_type.value for e in ran.events] == ["run_started", "llm_call", "run_completed"]
    assert run_one(good, item(**REFUND), EvalConfig(item_timeout_s=30)).result.passed  # in time: as without one
    with pytest.raises(ConfigError, match="item timeout must be positive"):
        run_eval(Path("unused.jsonl"), spec(good), Path("."), EvalConfig(item_timeout_s=0))


def _dataset(tmp_path: Path, n: int, bad_line: bool = False) -> Path:
    items = [item(**{**REFUND, "id": f"i-{k}", "tags": ["even" if k % 2 == 0 else "odd"]}) for k in range(n)]
    path = tmp_path / "set.jsonl"
    write(path, items)
    if bad_line:
        path.write_text(path.read_text() + '{"id": "broken"}\n')
    return path


def test_files_exit_codes_tags_and_concurrency(tmp_path: Path) -> None:
    path = _dataset(tmp_path, 10)
    report = run_eval(path, spec(good), tmp_path / "out", EvalConfig(release="r-9"))
    assert report.exit_code == 0
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == [f"i-{k}" for k in range(10)]
    assert {"id", "passed", "reasons", "violations", "cost_usd", "steps", "latency_s"} <= set(lines[0])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["items"], summary["passed"], summary["success_rate"]) == (10, 10, 1.0)
    assert summary["success_rate_ci95"][1] == 1.0 and summary["success_rate_ci95"][0] < 1.0
    assert summary["fingerprint"]["release"] == "r-9" and summary["fingerprint"]["model"] == "gpt-4o-mini"
    assert len(summary["fingerprint"]["tool_schema_hash"]) == 16 and summary["violation_rate"] == 0.0
    events = [json.loads(x) for x in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert len(events) == 50 and events[0]["body"]["release"] == "r-9"

    parallel = run_eval(path, spec(good), tmp_path / "par", EvalConfig(concurrency=4, tags=("even",)))
    assert [r.id for r in parallel.results] == ["i-0", "i-2", "i-4", "i-6", "i-8"]

    def half(case: Case) -> None:
        amount = 20 if case.id in ("i-0", "i-1") else 21
        case.tools.call("payments", "refund", {"order_id": "o-1", "amount_usd": amount})
        case.run.completed("succeeded")

    missed = run_eval(path, spec(half), tmp_path / "missed")
    assert missed.exit_code == 1 and missed.summary["success_rate"] == 0.2
    assert missed.summary["missed_targets"] == ["refund_ticket: task_success_rate 0.2 < task_success_rate_min 0.9"]

    bad = run_eval(_dataset(tmp_path, 3, bad_line=True), spec(good), tmp_path / "bad")
    assert bad.exit_code == 2 and len(bad.results) == 3
    assert bad.summary["bad_lines"][0].startswith("line 4: invalid item 'broken'")
    assert run_eval(path, spec(good), tmp_path / "none", EvalConfig(tags=("nope",))).exit_code == 2


def test_in_process_decisions_are_the_ones_replay_gives(tmp_path: Path) -> None:
    def tries(case: Case) -> None:
        for amount in (20, 150):
            with contextlib.suppress(Denied):
                case.tools.call("payments", "refund", {"order_id": "o-1", "amount_usd": amount})
        case.run.completed("succeeded")

    report = run_eval(_dataset(tmp_path, 2), spec(tries), tmp_path / "out")
    ours = {v["call_id"]: v["decision"] for r in report.results for v in r.violations}
    replay(tmp_path / "out" / "events.jsonl", tmp_path / "replayed")
    theirs = [json.loads(x) for x in (tmp_path / "replayed" / "decisions.jsonl").read_text().splitlines()]
    assert len(theirs) == 4 and len(ours) == 2
    assert {d["call_id"]: d["decision"] for d in theirs if d["decision"] != "allow"} == ours
    assert report.summary["violation_rate"] == 1.0


def test_an_agent_reference_is_module_colon_function() -> None:
    loaded = load_agent("warden.evals.reference_agent:agent")
    assert (loaded.model, loaded.prompt_version) == ("reference-rules-v1", "ref-1")
    assert load_agent("warden.evals.reference_agent:agent", model="gpt-4o").model == "gpt-4o"
    for bad in ("nocolon", "no.such.module:f", "warden.evals.reference_agent:missing", "warden.evals:__doc__"):
        with pytest.raises(ConfigError):
            load_agent(bad)
