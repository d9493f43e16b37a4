"""`warden rollout start | status | promote | pause | resume | rollback`: gated rollouts of a release.

Like `warden kill`, a command goes through the approvals service's API with your approver token
(the rollout routes, README "Rollouts"): the identity the token maps to is who the command is
recorded as, and a rollout changes a workflow for every tenant, so the token needs
`global_switches`. The server publishes it on the control topic, the rollout-controller applies it,
and the answer says what the stage became.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
from rich.text import Text

from warden.cli.api import TOKEN, call
from warden.cli.output import console, fail, figure, table
from warden.core.errors import WardenError
from warden.core.workflows import load_contracts
from warden.rollout.plan import RolloutPlan, load_plan, parse_plan
from warden.rollout.plan import resolve as resolve_plan

rollout_app = typer.Typer(help="Gated rollouts of a workflow's release: 5% -> 25% -> 100% on evidence.",
                          no_args_is_help=True)
REASON = typer.Option(..., "--reason", "-r", help="Why: recorded in the ledger")


def _gate_value(text: str) -> tuple[str, float]:
    key, _, value = text.partition("=")
    try:
        return key.strip(), float(value)
    except ValueError:
        raise typer.BadParameter(f"--gate takes KEY=NUMBER, e.g. cost_per_task_usd_max=0.10; got {text!r}") from None


def build_plan(workflow: str, candidate: str | None, baseline: str | None, steps: str | None, plan_file: Path | None,
               options: dict[str, Any], gates: list[str], resolve: bool = True) -> RolloutPlan:
    """A plan file's [rollout] table (if any) with the command line's values over it; `resolve`: gates
    left out taken from the workflow's targets here (the server does that itself)."""
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
    resolved = resolve_plan(plan, load_contracts())  # an unknown workflow, or no gate at all: exit 2 here
    return resolved if resolve else plan


def _path(workflow: str, *rest: str) -> str:
    return "/v1/rollouts/" + "/".join(quote(p, safe="") for p in (workflow, *rest))


def _said(stage: dict[str, Any]) -> None:
    console.print(f"rollout {stage['workflow']} {stage['baseline']} -> {stage['candidate']}: "
                  f"[bold]{stage['percent']}%[/] ({stage['status']}) by {stage.get('by', '?')}", highlight=False)
    if stage["status"] == "awaiting_approval" and stage.get("approval_call_id"):
        steps, index = stage.get("steps") or [], stage.get("step_index", 0)
        target = f" to {steps[index + 1]}%" if index + 1 < len(steps) else ""
        console.print(f"promotion{target} waits for a named approver: warden approvals list, then warden approvals "
                      f"approve|reject {stage['approval_call_id']} --rationale \"...\"", highlight=False,
                      soft_wrap=True)


def _send(action: str, workflow: str, reason: str, token: str | None) -> None:
    _said(call("POST", _path(workflow, action), token, json={"reason": reason}))


@rollout_app.command("start")
def start(
    workflow: str = typer.Argument(..., help="The workflow, as in policies/workflows.toml"),
    candidate: str | None = typer.Option(None, "--candidate", help="The new release"),
    baseline: str | None = typer.Option(None, "--baseline", help="The release running now"),
    steps: str | None = typer.Option(None, "--steps", help="Percentages, e.g. 5,25,100 (the last must be 100)"),
    plan_file: Path | None = typer.Option(None, "--plan", help="A plan file (\\[rollout], \\[rollout.gates]); options "
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
    token: str | None = TOKEN,
) -> None:
    """Start a rollout; gates it leaves out come from the workflow's targets."""
    try:  # checked here first, so a bad plan is exit 2 naming the problem before anything is sent
        plan = build_plan(workflow, candidate, baseline, steps, plan_file,
                          {"min_runs": min_runs, "hold_minutes": hold_minutes,
                           "approval_after_step": approval_after_step, "require_eval": require_eval,
                           "eval_max_age_days": eval_max_age_days}, gate, resolve=False)
    except WardenError as exc:
        fail(str(exc), 2)
    body = json.loads(plan.model_dump_json(exclude={"workflow"}, exclude_none=True))
    _said(call("POST", _path(workflow, "start"), token, json={**body, "reason": reason}))


def status_line(view: dict[str, Any]) -> str:
    """After the workflow's name: which step of how many (as Argo Rollouts' `get rollout` says Step 1/3), where
    the rollout stands and since when, the last decision, and the rationale an operator gave for the change
    (kept in `rationale`; the decision's reason is the controller's own words).

    "since" is when the stage last changed: for an operator's command or an approver's decision, the time they
    gave it (the change's commanded_at), with the event time the controller counts it at beside it when that
    differs (a command read after the events had passed its time); otherwise the change's event time (a
    rollback's or a pause's, not the step's start)."""
    stage = view.get("stage") or {}
    changed_at = view.get("changed_at") or stage.get("step_started_at")  # a server from before changed_at
    change = view.get("change") or {}
    since = str(change.get("commanded_at") or changed_at)
    if since != str(changed_at):
        since += f" (event time {changed_at})"
    steps = stage.get("steps")
    step = f" (step {stage['step_index'] + 1}/{len(steps)})" if steps and "step_index" in stage else ""
    line = (f" {view['baseline']} -> {view['candidate']}{step}: {view['percent']}% {view['status']} since {since} "
            f"(verdict {view['verdict']}); last: {view['decision']}: {view['reason']}")
    if change.get("rationale"):
        rationale = f'(rationale: "{change["rationale"]}")'
        if (change["decision"], change["reason"]) == (view["decision"], view["reason"]):
            line += f" {rationale}"  # the reason names the operator already
        else:  # holds since: the change was the operator's
            line += f"; {change['decision']} by {change.get('actor') or '?'} {rationale}"
    if view["status"] == "awaiting_approval" and stage.get("approval_call_id"):
        line += f"; approve or reject: warden approvals list (call {stage['approval_call_id']})"
    return line


@rollout_app.command("status")
def status(workflow: str | None = typer.Argument(None, help="One workflow (default: every rollout)"),
           as_json: bool = typer.Option(False, "--json", help="The gate view as JSON"),
           token: str | None = TOKEN) -> None:
    """Where each rollout stands, and its last judgment with every gate's figure and interval."""
    found = call("GET", _path(workflow) if workflow else "/v1/rollouts", token)
    views: list[dict[str, Any]] = [v for v in ([found] if workflow else found) if v.get("stage") is not None]
    if as_json:
        print(json.dumps([{k: v for k, v in view.items() if k != "stage"} for view in views], indent=2))
        return
    if workflow and not views:
        fail(f"workflow {workflow} has no rollout")
    for view in views:
        console.print(Text(view["workflow"], style="bold") + Text(status_line(view)), soft_wrap=True)
        rows = [[name, figure(f["value"]), f"[{figure(f['interval'][0])}, {figure(f['interval'][1])}]", f["runs"],
                 figure(f["target"]), f["verdict"]] for name, f in view["metrics"].items()]
        if rows:
            console.print(table(["gate", "value", "interval", "runs", "target", "verdict"], rows))


@rollout_app.command("promote")
def promote(workflow: str = typer.Argument(...), reason: str = REASON, token: str | None = TOKEN) -> None:
    """Promote to the next step now, skipping the evidence gates; from approval_after_step on (25%) it asks the
    approvals service and waits for a named approver, as the controller's own promotion does."""
    _send("promote", workflow, reason, token)


@rollout_app.command("pause")
def pause(workflow: str = typer.Argument(...), reason: str = REASON, token: str | None = TOKEN) -> None:
    """Stop judging (the candidate keeps its share; a candidate stop-ship still rolls back)."""
    _send("pause", workflow, reason, token)


@rollout_app.command("resume")
def resume(workflow: str = typer.Argument(...), reason: str = REASON, token: str | None = TOKEN) -> None:
    """Judge a paused rollout again."""
    _send("resume", workflow, reason, token)


@rollout_app.command("rollback")
def rollback(workflow: str = typer.Argument(...), reason: str = REASON, token: str | None = TOKEN) -> None:
    """Send every unit back to the baseline now."""
    _send("rollback", workflow, reason, token)
