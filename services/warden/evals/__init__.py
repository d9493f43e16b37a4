"""Evals: golden datasets scored on the state change a run made, through Warden's own checks (issue 12).

    warden eval run DATASET --agent MODULE:FUNC --out DIR

`FUNC(case)` gets `case.input`, `case.run` (a Warden SDK run, already started) and `case.tools`
(`call(tool, action, params) -> dict` against a sandbox world, through the same strict schemas and
Cedar bundle as the pipeline). Modules: dataset (format), world (sandbox and reference tools), diff
(scoring), tools (the checks), runner, summary (results files), records (ledger landing).
"""

from warden.evals.errors import Denied, ItemTimedOut, ToolFailed

__all__ = ["Denied", "ItemTimedOut", "ToolFailed"]
