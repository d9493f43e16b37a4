"""Shared by the aggregator's integration tests: what `warden replay` says the totals must be."""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path

from warden.core.events import AgentEvent
from warden.core.records import Alert, CostRollup
from warden.replay.runner import replay

Key = tuple[str, str, str, str]


def expected(events: list[AgentEvent]) -> tuple[dict[Key, float], set[str]]:
    """What `warden replay` says: totals per tenant/workflow/model/route and the runs flagged over
    their per-task ceiling, read back from its costs.jsonl and alerts.jsonl."""
    with tempfile.TemporaryDirectory() as scratch:
        source, out = Path(scratch) / "events.jsonl", Path(scratch) / "out"
        source.write_text("".join(json.dumps(e.to_json_view()) + "\n" for e in events))
        result = replay(source, out)
        assert result.bad == []
        rollups = [CostRollup.model_validate_json(line) for line in (out / "costs.jsonl").read_text().splitlines()]
        alerts = [Alert.model_validate_json(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    return totals(rollups), {a.run_id or "" for a in alerts if a.rule == "task_ceiling"}


def totals(rollups: list[CostRollup], window: str = "1m") -> dict[Key, float]:
    found: dict[Key, float] = defaultdict(float)
    for r in rollups:
        if r.window == window and r.model:
            found[(r.tenant_id, r.workflow, r.model, r.route)] += r.cost_usd
    return {k: round(v, 6) for k, v in found.items()}


def same_totals(got: dict[Key, float], want: dict[Key, float], tolerance_usd: float = 1e-6) -> bool:
    """Equal keys and dollars up to float summation order (a millionth of a cent is not money)."""
    return got.keys() == want.keys() and all(abs(got[k] - want[k]) < tolerance_usd for k in want)
