"""`warden replay EVENTS.jsonl --out DIR`: test changes against recorded runs, no broker needed."""

from __future__ import annotations

from pathlib import Path

import typer

from warden.alerting.config import load_rules
from warden.anomaly_alerter.settings import AnomalyAlerterSettings
from warden.cli.output import console, errors, fail
from warden.core.errors import WardenError
from warden.core.topics import AGENT_EVENTS, PARTITIONS
from warden.cost.budgets import DEFAULT_BUDGETS
from warden.cost.prices import DEFAULT_PRICES
from warden.policy.bundle import DEFAULT_POLICIES
from warden.replay.runner import OUTPUT_FILES, ROLLOUTS_FILE
from warden.replay.runner import replay as run_replay
from warden.routing.policy import DEFAULT_ROUTING


def replay(
    events: Path = typer.Argument(..., help="JSON lines of AgentEvent (JSON view), one per line"),
    out: Path = typer.Option(..., "--out", help="Directory for decisions/risk/alerts/costs/routes.jsonl"),
    policies: Path | None = typer.Option(None, "--policies", help="Cedar policy bundle directory"),
    partitions: int = typer.Option(PARTITIONS[AGENT_EVENTS], "--partitions", min=1,
                                   help="Partitions of agent.events where the events were recorded (risk state is "
                                        "per partition)"),
    prices: Path = typer.Option(DEFAULT_PRICES, "--prices", help="Price table (TOML) for unpriced LLM calls"),
    budgets: Path = typer.Option(DEFAULT_BUDGETS, "--budgets", help="Budgets and per-task ceilings (TOML)"),
    rollout: Path | None = typer.Option(None, "--rollout", help="A rollout plan (TOML \\[rollout]) to judge over the "
                                        "events: writes rollouts.jsonl"),
    eval_run: str | None = typer.Option(None, "--eval-run", help="For a plan with require_eval: the passing eval "
                                        "run of the candidate that the live start recorded"),
    routing: Path = typer.Option(DEFAULT_ROUTING, "--routing", help="Routing file to decide run.route / escalate "
                                 "again with: routes.jsonl"),
) -> None:
    """Run the live processors' code over recorded events, in file order."""
    if not events.is_file():
        fail(f"events file {events} does not exist", 2)
    if policies is not None and not policies.is_dir():
        fail(f"--policies {policies} is not a directory", 2)
    if rollout is not None and not rollout.is_file():
        fail(f"--rollout {rollout} does not exist", 2)
    try:
        plan = None
        if rollout is not None:
            from warden.core.workflows import load_contracts
            from warden.rollout.plan import load_plan, resolve

            workflows = (policies or DEFAULT_POLICIES) / "workflows.toml"
            plan = resolve(load_plan(rollout), load_contracts(workflows), str(workflows))
        alerting = AnomalyAlerterSettings()  # the same thresholds, re-notify and lateness as the live alerter
        rules = load_rules(alerting.alert_rules_path, alerting.alert_renotify_minutes * 60)
        result = run_replay(events, out, policies or DEFAULT_POLICIES, prices, budgets, rules,
                            alerting.alert_lateness_ms, partitions=partitions, rollout=plan,
                            eval_run_id=eval_run, routing=routing)
    except WardenError as exc:
        fail(str(exc), 2)
    for bad in result.bad:
        errors.print(f"[red]{events}:{bad.line}[/]: {bad.reason}", highlight=False)
    console.print(
        f"replayed {result.events} events ({result.redactions} redactions) into {out}: "
        + ", ".join(f"{name} {result.outputs.get(name, 0)}" for name in ("events.jsonl", *OUTPUT_FILES,
                                                                         *((ROLLOUTS_FILE,) if plan else ())))
        + (f"; {result.switches_set} kill switch(es) set (stop-ship, budgets)" if result.switches_set else "")
        + ("; dropped as already written (same ledger id): "
           + ", ".join(f"{name} {n}" for name, n in sorted(result.duplicates.items()))
           if result.duplicates else "")
    )
    if result.bad:
        fail(f"{len(result.bad)} bad line(s) in {events}; every good line was processed")
