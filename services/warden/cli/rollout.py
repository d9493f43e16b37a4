"""`warden rollout start | status | promote | pause | resume | rollback`: gated rollouts of a release.

Like `warden kill`, a command is published on the control topic with who and why (--actor, default your
user name); the rollout-controller applies it and this waits until its stage record says so.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import typer

from warden.cli.output import console, fail, table
from warden.core.errors import WardenError
from warden.core.records import RolloutAction
from warden.core.settings import WardenSettings
from warden.core.workflows import contract_for, load_contracts
from warden.rollout.operate import Rollouts
from warden.rollout.plan import RolloutPlan, load_plan, parse_plan
from warden.rollout.views import stage_view

rollout_app = typer.Typer(help="Gated rollouts of a workflow's release: 5% -> 25% -> 100% on evidence.",
                          no_args_is_help=True)
ACTOR = typer.Option(None, "--actor", help="Who (default: your user name); recorded with the decision")
REASON = typer.Option(..., "--reason", "-r", help="Why: recorded in the ledger")


def _gate_value(text: str) -> tuple[str, float]:
    key, _, value = text.partition("=")
    try:
        return key.strip(), float(value)
    except ValueError:
        raise typer.BadParameter(f"--gate takes KEY=NUMBER, e.g. cost_per_task_usd_max=0.10; got {text!r}") from None


def build_plan(workflow: str, candidate: str | None, baseline: str | None, steps: str | None, plan_file: Path | None,
               options: dict[str, Any], gates: list[str]) -> RolloutPlan:
    """A plan file's [rollout] table (if any) with the command line's values over it."""
    table_: dict[str, Any] = {}
    if plan_file is not None:
        table_ = json.loads(load_plan(plan_file).model_dump_json(exclude_unset=True))
        if table_.get("workflow", workflow) != workflow:
            fail(f"{plan_file} is a plan for {table_['workflow']}, not {workflow}", 2)
    table_["workflow"] = workflow
    if candidate:
        table_["candidate"] = candidate
    if baseline:
        table_["baseline"] = baseline
    if steps:
        try:
            table_["steps"] = [int(s) for s in steps.split(",")]
        except ValueError:
            fail(f"--steps takes percentages separated by commas, e.g. 5,25,100; got {steps!r}", 2)
    table_.update({k: v for k, v in options.items() if v is not None})
    if gates:
        table_["gates"] = {**table_.get("gates", {}), **dict(_gate_value(g) for g in gates)}
    plan = parse_plan({"rollout": table_}, "rollout plan")
    return plan.resolved(contract_for(load_contracts(), workflow))


def _rollouts() -> Rollouts:
    try:
        return Rollouts(WardenSettings())
    except WardenError as exc:
        fail(str(exc))


def _send(action: RolloutAction, workflow: str, actor: str | None, reason: str,
          plan: RolloutPlan | None = None) -> None:
    rollouts = _rollouts()
    try:
        stage = rollouts.send(action, workflow, actor or getpass.getuser(), reason, plan)
    except WardenError as exc:
        fail(str(exc))
    finally:
        rollouts.close()
    console.print(f"rollout {stage.workflow} {stage.baseline} -> {stage.candidate}: [bold]{stage.percent}%[/] "
                  f"({stage.status.value}) by {actor or getpass.getuser()}")


@rollout_app.command("start")
def start(
    workflow: str = typer.Argument(..., help="The workflow, as in policies/workflows.toml"),
    candidate: str | None = typer.Option(None, "--candidate", help="The new release"),
    baseline: str | None = typer.Option(None, "--baseline", help="The release running now"),
    steps: str | None = typer.Option(None, "--steps", help="Percentages, e.g. 5,25,100 (the last must be 100)"),
    plan_file: Path | None = typer.Option(None, "--plan", help="A plan file ([rollout], [rollout.gates]); options "
                                          "given here override it"),
    min_runs: int | None = typer.Option(None, "--min-runs", help="Completed candidate runs before a step is judged"),
    hold_minutes: float | None = typer.Option(None, "--hold-minutes", help="Event time at a step before judging"),
    approval_after_step: int | None = typer.Option(None, "--approval-after-step",
                                                   help="Promotion from this percent on waits for a human (25)"),
    gate: list[str] = typer.Option([], "--gate", help="KEY=VALUE, e.g. cost_increase_vs_baseline_max=0.2"),
    require_eval: bool | None = typer.Option(None, "--require-eval/--no-require-eval",
                                             help="Start only with a passing eval of the candidate in the ledger"),
    eval_max_age_days: float | None = typer.Option(None, "--eval-max-age-days",
                                                   help="How recent that eval must be (default 7)"),
    reason: str = REASON,
    actor: str | None = ACTOR,
) -> None:
    """Start a rollout; gates it leaves out come from the workflow's targets."""
    try:
        plan = build_plan(workflow, candidate, baseline, steps, plan_file,
                          {"min_runs": min_runs, "hold_minutes": hold_minutes,
                           "approval_after_step": approval_after_step, "require_eval": require_eval,
                           "eval_max_age_days": eval_max_age_days}, gate)
    except WardenError as exc:
        fail(str(exc), 2)
    _send(RolloutAction.START, workflow, actor, reason, plan)


@rollout_app.command("status")
def status(workflow: str | None = typer.Argument(None, help="One workflow (default: every rollout)"),
           as_json: bool = typer.Option(False, "--json", help="The gate view as JSON")) -> None:
    """Where each rollout stands, and its last judgment with every gate's figure and interval."""
    rollouts = _rollouts()
    try:
        rollouts.wait_ready()
        names = [workflow] if workflow else rollouts.workflows()
        views = [rollouts.gate(name) for name in names if rollouts.stage(name) is not None]
        stages = {name: rollouts.stage(name) for name in names}
    except WardenError as exc:
        fail(str(exc))
    finally:
        rollouts.close()
    if as_json:
        console.print_json(json.dumps(views))
        return
    if workflow and not views:
        fail(f"workflow {workflow} has no rollout")
    for view in views:
        stage = stages[view["workflow"]]
        assert stage is not None
        started = stage_view(stage)["step_started_at"]
        console.print(f"[bold]{view['workflow']}[/] {view['baseline']} -> {view['candidate']}: {view['percent']}% "
                      f"{view['status']} since {started} (verdict {view['verdict']}); last: {view['decision']}: "
                      f"{view['reason']}", highlight=False)
        rows = [[name, f["value"], f"[{f['interval'][0]}, {f['interval'][1]}]", f["runs"], f["target"], f["verdict"]]
                for name, f in view["metrics"].items()]
        if rows:
            console.print(table(["gate", "value", "interval", "runs", "target", "verdict"], rows))


@rollout_app.command("promote")
def promote(workflow: str = typer.Argument(...), reason: str = REASON, actor: str | None = ACTOR) -> None:
    """Promote to the next step now (an operator's promotion is also the approval past approval_after_step)."""
    _send(RolloutAction.PROMOTE, workflow, actor, reason)


@rollout_app.command("pause")
def pause(workflow: str = typer.Argument(...), reason: str = REASON, actor: str | None = ACTOR) -> None:
    """Stop judging (the candidate keeps its share; a candidate stop-ship still rolls back)."""
    _send(RolloutAction.PAUSE, workflow, actor, reason)


@rollout_app.command("resume")
def resume(workflow: str = typer.Argument(...), reason: str = REASON, actor: str | None = ACTOR) -> None:
    """Judge a paused rollout again."""
    _send(RolloutAction.RESUME, workflow, actor, reason)


@rollout_app.command("rollback")
def rollback(workflow: str = typer.Argument(...), reason: str = REASON, actor: str | None = ACTOR) -> None:
    """Send every unit back to the baseline now."""
    _send(RolloutAction.ROLLBACK, workflow, actor, reason)
