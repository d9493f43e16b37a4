"""`warden eval`: run a dataset through an agent against sandbox worlds, scored on the state change."""

from __future__ import annotations

from pathlib import Path

import typer

from warden.cli.output import console, errors, fail, table
from warden.core.errors import WardenError
from warden.core.settings import WardenSettings
from warden.core.workflows import DEFAULT_WORKFLOWS_FILE
from warden.policy.bundle import DEFAULT_POLICIES
from warden.tool_proxy.inventory import DEFAULT_INVENTORY

eval_app = typer.Typer(help="Evals: golden datasets scored on the world's diff, through Warden's checks.",
                       no_args_is_help=True)


def _rate(value: float | None) -> str:
    return "∅" if value is None else f"{value:.1%}"


def _tags(values: list[str]) -> tuple[str, ...]:
    return tuple(t.strip() for value in values for t in value.split(",") if t.strip())


@eval_app.command("run")
def run(
    dataset: Path = typer.Argument(..., help="JSON lines, one item each (README: Evals)"),
    agent: str = typer.Option(..., "--agent", help="MODULE:FUNC called with each case"),
    out: Path = typer.Option(..., "--out", help="Directory for results.jsonl, summary.json, events.jsonl"),
    release: str | None = typer.Option(None, "--release", help="The release under test (RunStarted.release)"),
    concurrency: int = typer.Option(1, "--concurrency", min=1, help="Items run at once (threads)"),
    item_timeout: float = typer.Option(300.0, "--item-timeout", min=0.0,
                                       help="Seconds an item's agent may take before the item fails (0: no limit)"),
    tags: list[str] = typer.Option([], "--tags", help="Only items with any of these tags (repeat or comma-separate)"),
    model: str | None = typer.Option(None, "--model", help="Override the model the agent declares"),
    prompt_version: str | None = typer.Option(None, "--prompt-version", help="Override the agent's prompt version"),
    policies: Path = typer.Option(DEFAULT_POLICIES, "--policies", help="Cedar policy bundle directory"),
    inventory: Path = typer.Option(DEFAULT_INVENTORY, "--inventory", help="Tool inventory (strict JSON Schemas)"),
    workflows: Path = typer.Option(DEFAULT_WORKFLOWS_FILE, "--workflows", help="Workflow contracts and targets"),
    tenant: str = typer.Option("eval", "--tenant", help="Tenant id of the eval's runs"),
    emit: bool = typer.Option(False, "--emit", help="Publish the eval run and its results to Kafka for the ledger"),
) -> None:
    """Run every item through the agent; exit 1 when a workflow misses its task_success_rate_min, 2 on bad input."""
    from warden.broker.probe import require_broker
    from warden.evals.records import publish, records_of
    from warden.evals.runner import EvalConfig, load_agent, run_eval

    if not dataset.is_file():
        fail(f"dataset {dataset} does not exist", 2)
    if emit:  # before the run, not after it: one line now rather than librdkafka's retries at the end
        try:
            require_broker(WardenSettings())
        except WardenError as exc:
            fail(f"--emit: {exc}")
    try:
        spec = load_agent(agent, model, prompt_version)
        config = EvalConfig(policies=policies, inventory=inventory, workflows=workflows, tenant_id=tenant,
                            release=release, concurrency=concurrency, tags=_tags(tags),
                            item_timeout_s=item_timeout or None)
        report = run_eval(dataset, spec, out, config)
    except WardenError as exc:
        fail(str(exc), 2)
    for bad in report.dataset.bad:
        errors.print(f"[red]{dataset}:{bad.line}[/]: {bad.reason}", highlight=False)
    if report.unknown_workflows:
        errors.print(f"[red]skipped items of workflows the policy bundle does not define:[/] "
                     f"{', '.join(report.unknown_workflows)}", highlight=False)
    summary = report.summary
    rows = [[name, m["items"], m["passed"], _rate(m["success_rate"]),
             f"[{m['success_rate_ci95'][0]:.1%}, {m['success_rate_ci95'][1]:.1%}]", _rate(m["violation_rate"]),
             "∅" if m["cost_per_task_usd"] is None else f"${m['cost_per_task_usd']:.4f}",
             "∅" if m["latency_p95_s"] is None else f"{m['latency_p95_s']:.3f}"]
            for name, m in summary["workflows"].items()]
    console.print(table(["workflow", "items", "passed", "success", "95% CI", "violations", "cost/task", "p95 s"],
                        rows, title=f"eval {report.eval_run_id} ({spec.ref})"))
    for result in [r for r in report.results if not r.passed][:10]:
        console.print(f"[red]failed[/] {result.id}: {'; '.join(result.reasons)[:400]}", highlight=False)
    failed = sum(not r.passed for r in report.results)
    if failed > 10:
        console.print(f"... and {failed - 10} more failed item(s): see {out / 'results.jsonl'}", highlight=False)
    console.print(f"{summary['passed']}/{summary['items']} items passed; results in {out}", highlight=False)
    if emit:
        try:
            count = publish(WardenSettings(), *records_of(summary, report.results))
        except WardenError as exc:
            fail(f"the results are in {out}, but publishing them for the ledger failed: {exc}", 2)
        console.print(f"published {count} eval record(s) on eval.runs and eval.results", highlight=False)
    for missed in summary["missed_targets"]:
        errors.print(f"[red]missed target[/] {missed}", highlight=False)
    raise typer.Exit(report.exit_code)


@eval_app.command("generate")
def generate(out: Path = typer.Option(..., "--out", help="Where to write the golden dataset (JSON lines)")) -> None:
    """Write the golden dataset over the four reference workflows (reproducible: a fixed seed)."""
    from warden.evals.golden import write_golden

    count = write_golden(out)
    console.print(f"wrote {count} items to {out}", highlight=False)
