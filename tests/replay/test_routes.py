"""Replay parity for routing: decisions the SDK made live (on the real broker) come out the same from
`warden replay`; a changed routing file shows where it would route differently."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.routing.helpers import write
from tests.sdk.test_client import read_back
from warden.core.settings import WardenSettings
from warden.replay.runner import replay
from warden.sdk import WardenClient
from warden.stack import warden_command

RULES = """
[tiers]
initech = "enterprise"

[[rules]]
id = "risky"
route = "strong"
when.risk_score = { ge = 0.7 }

[[rules]]
id = "small-refunds"
route = "cheap"
when.workflow = "refund_ticket"
when.amount_usd = { le = 100 }

[[rules]]
id = "enterprise"
route = "default"
when.tenant_tier = "enterprise"
"""
TASKS = [  # tenant, workflow, features, escalations
    ("acme", "refund_ticket", {"amount_usd": 42.0}, 0),
    ("acme", "refund_ticket", {"amount_usd": 420.0}, 1),
    ("globex", "refund_ticket", {"amount_usd": 10, "risk_score": 0.9}, 1),
    ("initech", "export_report", {"intent": "monthly"}, 2),
    ("acme", "triage_ticket", {"vip": True, "input_tokens": 9000}, 3),
    ("globex", "refund_ticket", {"amount_usd": 99.99}, 2),
]


def live(settings: WardenSettings, path: Path) -> Path:
    """Runs by the SDK on the broker, read back from agent.events and written as a replay file."""
    with WardenClient(settings.model_copy(update={"routing_file": path})) as client:
        for n, (tenant, workflow, features, ups) in enumerate(TASKS):
            with client.run(tenant, workflow, "agent-1", run_id=f"live-{n}") as run:
                run.started("v3", "p1", "gpt-4o")
                choice = run.route(**features)  # type: ignore[arg-type]
                run.llm_call(choice.model, choice.provider, 500, 50, 300.0, route=choice.route)
                for _ in range(ups):
                    up = run.escalate("unsure", confidence=0.4)
                    run.llm_call(up.model, up.provider, 500, 50, 300.0, route=up.route)
                run.completed("succeeded")
    expected = sum(4 + 2 * ups for *_, ups in TASKS)
    got = sorted((e for _, e in read_back(settings, expected)), key=lambda e: (e.run_id, e.step))
    assert len(got) == expected
    events = path.parent / "live-events.jsonl"
    events.write_text("".join(json.dumps(e.to_json_view()) + "\n" for e in got))
    return events


def test_replay_decides_as_the_sdk_did_live(topics: WardenSettings, tmp_path: Path) -> None:
    path = write(tmp_path, RULES)
    events = live(topics, path)
    recorded = [json.loads(line) for line in events.read_text().splitlines()]
    decisions = [e for e in recorded if e["event_type"] == "llm_call" and e["body"]["route_decision"]]
    assert len(decisions) == len(TASKS) + sum(t[3] for t in TASKS)

    replay(events, tmp_path / "out", routing=path)
    routes = [json.loads(line) for line in (tmp_path / "out" / "routes.jsonl").read_text().splitlines()]
    assert len(routes) == len(decisions) and all(r["same"] for r in routes)
    assert [(r["route"], r["model"], r["rule"], r["exhausted"]) for r in routes] == [
        (d["body"]["route"], d["body"]["model"], d["body"]["route_decision"]["rule"],
         d["body"]["route_decision"]["exhausted"]) for d in decisions]
    firsts = {r["run_id"]: r["rule"] for r in routes if r["kind"] == "route"}
    assert firsts == {"live-0": "small-refunds", "live-1": "default", "live-2": "risky", "live-3": "enterprise",
                      "live-4": "default", "live-5": "small-refunds"}
    assert any(r["exhausted"] for r in routes)  # live-4 escalates past strong

    # The live aggregator's code in replay: each run's outcome is counted under its first route.
    costs = [json.loads(line) for line in (tmp_path / "out" / "costs.jsonl").read_text().splitlines()]
    runs: dict[str, int] = {}
    for row in costs:
        if row["window"] == "1m" and row["model"] == "":
            runs[row["route"]] = runs.get(row["route"], 0) + row["runs_completed"]
    assert runs == {"cheap": 2, "default": 3, "strong": 1}


def test_replay_with_another_routing_file_names_what_would_change(topics: WardenSettings, tmp_path: Path) -> None:
    path = write(tmp_path, RULES)
    events = live(topics, path)
    changed = write(tmp_path, RULES.replace('route = "cheap"', 'route = "default"'), name="new.toml")
    done = subprocess.run([*warden_command(), "replay", str(events), "--out", str(tmp_path / "out"),
                           "--routing", str(changed)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert f"routes.jsonl {len(TASKS) + sum(t[3] for t in TASKS)}" in done.stdout
    routes = [json.loads(line) for line in (tmp_path / "out" / "routes.jsonl").read_text().splitlines()]
    differ = [r for r in routes if not r["same"]]
    assert {(r["run_id"], r["kind"]) for r in differ} >= {("live-0", "route"), ("live-5", "route")}
    assert all(r["recorded"]["route"] == "cheap" for r in differ if r["kind"] == "route")
