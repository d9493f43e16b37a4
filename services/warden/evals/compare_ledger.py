"""An eval run read back from the ledger (eval_runs, eval_results) for `warden eval compare RUN_ID RUN_ID`.

The ledger holds what `warden eval run --emit` published, so two runs can be compared after their
output directories are gone (a CI runner's workspace, another engineer's machine). Reasons there
are redacted, as everything the ledger stores.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from warden.core.errors import ConfigError
from warden.evals.compare import EvalRun, ItemOutcome

Query = Callable[[str], tuple[list[str], list[list[Any]]]]
# `warden eval run` names its runs with uuid4 text; checked before it goes into SQL, and what tells an
# id from a run directory's name on the command line.
RUN_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATABASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RUN_COLUMNS = ("eval_run_id", "dataset", "agent", "items", "passed", "success_rate", "violation_rate",
               "cost_per_task_usd", "latency_p95_s", "model", "prompt_version", "tool_schema_hash",
               "policy_bundle_hash", "release")
RESULT_COLUMNS = ("item_id", "passed", "reasons", "violations", "cost_usd", "steps", "latency_s")


def is_run_id(text: str) -> bool:
    return RUN_ID.match(text) is not None


def load_run_ledger(query: Query, eval_run_id: str, database: str = "warden") -> EvalRun:
    if not is_run_id(eval_run_id):
        raise ConfigError(f"{eval_run_id!r} is not an eval run id (a UUID)")
    if not _DATABASE.match(database):
        raise ConfigError(f"{database!r} is not a ClickHouse database name")
    _, runs = query(f"SELECT {', '.join(RUN_COLUMNS)} FROM {database}.eval_runs "
                    f"WHERE eval_run_id = '{eval_run_id}' LIMIT 1")
    if not runs:
        raise ConfigError(f"eval run {eval_run_id} is not in the ledger's eval_runs "
                          "(was it run with `warden eval run --emit`, and has the ledger-sink landed it?)")
    summary = dict(zip(RUN_COLUMNS, runs[0], strict=True))
    _, rows = query(f"SELECT {', '.join(RESULT_COLUMNS)} FROM {database}.eval_results "
                    f"WHERE eval_run_id = '{eval_run_id}' ORDER BY item_id LIMIT 1 BY item_id")
    items = {}
    for row in rows:
        r = dict(zip(RESULT_COLUMNS, row, strict=True))
        items[str(r["item_id"])] = ItemOutcome(
            id=str(r["item_id"]), passed=bool(r["passed"]), reasons=tuple(str(x) for x in r["reasons"] or ()),
            violations=len(r["violations"] or ()), cost_usd=float(r["cost_usd"] or 0.0), steps=int(r["steps"] or 0),
            latency_s=float(r["latency_s"] or 0.0))
    if len(items) != summary["items"]:
        raise ConfigError(f"eval run {eval_run_id}: eval_runs says {summary['items']} items but eval_results "
                          f"holds {len(items)} (still landing?)")
    return EvalRun(f"eval run {eval_run_id}", summary, items)
