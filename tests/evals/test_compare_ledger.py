"""`warden eval compare RUN_ID RUN_ID`: two eval runs published with --emit, landed by the real ledger-sink."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ledger_sink.helpers import sink_settings, wait_for
from warden.core.errors import ConfigError
from warden.core.settings import WardenSettings
from warden.evals.canaries import OUT as CANARIES
from warden.evals.compare import compare, load_run_dir
from warden.evals.compare_ledger import load_run_ledger
from warden.evals.records import publish, records_of
from warden.evals.runner import EvalConfig, load_agent, run_eval
from warden.ledger.client import Ledger
from warden.ledger.readonly import run_readonly
from warden.ledger_sink.service import LedgerSink

pytestmark = pytest.mark.integration


def emitted(topics: WardenSettings, agent: str, out: Path) -> str:
    report = run_eval(CANARIES, load_agent(agent), out, EvalConfig(tags=("canary:invalid_params",)))
    publish(topics, *records_of(report.summary, report.results))
    return report.eval_run_id


def test_runs_compared_from_the_ledger_match_the_directories(topics: WardenSettings, ledger: Ledger,
                                                              tmp_path: Path) -> None:
    base = emitted(topics, "warden.evals.reference_agent:agent", tmp_path / "base")
    cand = emitted(topics, "warden.evals.reference_agent:naive_agent", tmp_path / "cand")
    sink = LedgerSink(sink_settings(topics, ledger), ledger).start()
    try:
        wait_for(lambda: ledger.scalar(f"SELECT count() FROM {ledger.database}.eval_runs") >= 2,
                 step=sink.poll_once, timeout_s=60, what="two eval runs in the ledger")
    finally:
        sink.close()

    def query(sql: str) -> tuple[list[str], list[list[object]]]:
        columns, rows = run_readonly(ledger, sql)
        return columns, [list(r) for r in rows]

    from_ledger = compare(load_run_ledger(query, base, ledger.database), load_run_ledger(query, cand, ledger.database))
    from_dirs = compare(load_run_dir(tmp_path / "base"), load_run_dir(tmp_path / "cand"))
    assert from_ledger.base.label == f"eval run {base}"
    assert [f.id for f in from_ledger.to_fail] == [f.id for f in from_dirs.to_fail] and len(from_dirs.to_fail) == 21
    assert from_ledger.test == from_dirs.test
    assert [(d.name, d.base, d.candidate, d.regressed) for d in from_ledger.deltas] == [
        (d.name, d.base, d.candidate, d.regressed) for d in from_dirs.deltas]
    assert from_ledger.fingerprint_changes == from_dirs.fingerprint_changes == ()
    with pytest.raises(ConfigError, match="is not in the ledger's eval_runs"):
        load_run_ledger(query, "0e5b7c1d-0000-4a8e-b6d9-1c7a3e9f5b20", ledger.database)
    with pytest.raises(ConfigError, match="is not an eval run id"):
        load_run_ledger(query, "x' OR '1'='1", ledger.database)
