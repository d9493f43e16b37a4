"""The simulated platforms produce every behaviour the processors must catch, deterministically."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from warden.demo.simulator import TENANTS, WORKFLOWS, Simulator

START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_same_seed_same_events() -> None:
    a = [e.to_json_view() for e in Simulator(5, START).events(500)]
    b = [e.to_json_view() for e in Simulator(5, START).events(500)]
    assert a == b


def test_the_mix_covers_tenants_workflows_and_the_behaviours_to_catch() -> None:
    sim = Simulator(7, START)
    events = list(sim.events(20_000))
    assert {e.tenant_id for e in events} == set(TENANTS)
    assert {e.workflow for e in events} == set(WORKFLOWS)
    seen = sim.seen
    for behaviour in ("refunds_over_100", "exports_over_1000", "deletes", "out_of_inventory", "runaway_runs",
                      "tool_failures", "cost_spike_calls", "pii_values"):
        assert getattr(seen, behaviour) > 0, behaviour
    assert max(e.step for e in events) > 50  # runaway loops pass the default step limit
    params = [json.loads(e.body.params) for e in events if e.event_type == "tool_call_requested"]  # type: ignore[union-attr]
    assert any(p.get("amount_usd", 0) > 100 for p in params)
    assert any(p.get("row_count", 0) > 1000 for p in params)
    runs: dict[str, int] = {}
    for e in events:
        assert e.step == runs.get(e.run_id, 0) + 1  # steps are numbered 1.. within each run, in order
        runs[e.run_id] = e.step
