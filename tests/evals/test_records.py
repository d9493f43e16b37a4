"""An eval run lands in eval_runs and eval_results through the topics and the real ledger-sink (real chDB)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.evals.helpers import item, land, spec
from tests.ledger_sink.helpers import sink_settings
from warden.core.settings import WardenSettings
from warden.evals.dataset import write
from warden.evals.records import publish, records_of
from warden.evals.runner import Case, EvalConfig, run_eval
from warden.evals.summary import read_results
from warden.ledger.client import Ledger
from warden.ledger.verify import verify

pytestmark = pytest.mark.integration


def agent(case: Case) -> None:
    amount = 20 if case.id != "i-2" else 25
    case.tools.call("payments", "refund", {"order_id": "o-1", "amount_usd": amount})
    case.tools.call("email", "send", {"to": "ada@example.com", "subject": "refund", "body": "done"})
    case.run.completed("succeeded")


def test_an_eval_run_and_its_results_land_hash_chained_and_redacted(topics: WardenSettings, ledger: Ledger,
                                                                     tmp_path: Path) -> None:
    expect = {"state_change": {"refunds": [{"order_id": "o-1", "amount_usd": 20}],
                               "outbox": [{"to": "ada@example.com", "subject": "refund", "body": "done"}]}}
    items = [item(id=f"i-{k}", expect=expect, tags=["golden"]) for k in range(3)]
    write(tmp_path / "set.jsonl", items)
    report = run_eval(tmp_path / "set.jsonl", spec(agent), tmp_path / "out", EvalConfig(release="cand-2"))
    results, summary = read_results(tmp_path / "out")
    assert results == report.results
    run, rows = records_of(summary, results)
    assert publish(topics, run, rows) == 4
    assert publish(topics, run, rows) == 4  # sent twice: lands once (record ids are deterministic)

    db = ledger.database
    land(topics, ledger, eval_runs=1, eval_results=3)
    runs = ledger.rows(f"SELECT eval_run_id, release, items, passed, met_targets, missed_targets, model, "
                       f"policy_bundle_hash, workflows FROM {db}.eval_runs")
    assert runs == [(report.eval_run_id, "cand-2", 3, 2, False,
                     ["refund_ticket: task_success_rate 0.6666666666666666 < task_success_rate_min 0.9"],
                     "gpt-4o-mini", summary["fingerprint"]["policy_bundle_hash"], ["refund_ticket"])]
    got = ledger.rows(f"SELECT item_id, passed, reasons, steps, redactions FROM {db}.eval_results ORDER BY item_id")
    assert [g[:2] for g in got] == [("i-0", True), ("i-1", True), ("i-2", False)]
    reasons = got[2][2]
    assert reasons[0] == "wrong change refunds[+0].amount_usd: expected 20, got 25"
    failing = next(r for r in results if r.id == "i-2")
    assert got[2][3] == failing.steps
    assert verify(ledger, sink_settings(topics, ledger).chain_keys()).ok  # keyed chains (ADR 0009)
    # The rollout gate's question: is there a passing eval of this release?
    assert ledger.scalar(f"SELECT count() FROM {db}.eval_runs WHERE release = 'cand-2' AND met_targets") == 0


def test_reasons_that_quote_pii_are_redacted_in_the_ledger(topics: WardenSettings, ledger: Ledger,
                                                          tmp_path: Path) -> None:
    expect = {"state_change": {"outbox": [{"to": "bob@example.com", "subject": "refund", "body": "done"}]}}
    write(tmp_path / "set.jsonl", [item(id="pii", expect=expect)])

    def mails(case: Case) -> None:
        case.tools.call("email", "send", {"to": "ada@example.com", "subject": "refund", "body": "done"})
        case.run.completed("succeeded")

    report = run_eval(tmp_path / "set.jsonl", spec(mails), tmp_path / "out")
    assert any("ada@example.com" in r for r in report.results[0].reasons)
    publish(topics, *records_of(report.summary, report.results))
    land(topics, ledger, eval_runs=1, eval_results=1)
    reasons, redactions = ledger.rows(f"SELECT reasons, redactions FROM {ledger.database}.eval_results")[0]
    assert redactions >= 2 and not any("@example.com" in r for r in reasons)
    assert json.dumps(reasons).count("REDACTED") >= 2
