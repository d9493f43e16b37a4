"""`warden eval import | compare | watch`: bringing suites in, gating regressions, re-running on change.

Registered on the `eval` group of warden.cli.eval (`register`), kept apart from `eval run` so each
file has one job.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from warden.cli.output import console, errors, fail
from warden.core.errors import ConfigError, WardenError
from warden.core.settings import WardenSettings
from warden.core.workflows import DEFAULT_WORKFLOWS_FILE
from warden.policy.bundle import DEFAULT_POLICIES
from warden.tool_proxy.inventory import DEFAULT_INVENTORY

if TYPE_CHECKING:
    from warden.evals.compare import Comparison, EvalRun


def import_suite(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="The file to import"),
    origin: str = typer.Option(..., "--from", help="promptfoo | inspect | langfuse"),
    workflow: str = typer.Option(..., "--workflow", help="The Warden workflow every item runs"),
    out: Path = typer.Option(..., "--out", help="The Warden dataset to write (JSON lines)"),
    ignore_assert: list[str] = typer.Option(
        [], "--ignore-assert", help="promptfoo: drop assertions of this type instead of refusing the test"),
    workflows: Path = typer.Option(DEFAULT_WORKFLOWS_FILE, "--workflows", help="The workflows file (workflows.toml)"),
) -> None:
    """Map another tool's test cases to Warden items; refused ones are named with the reason (exit 1)."""
    from warden.core.workflows import load_contracts
    from warden.evals.dataset import write
    from warden.evals.importers import SOURCES
    from warden.evals.importers.promptfoo import import_promptfoo

    if origin not in SOURCES:
        fail(f"--from must be one of {', '.join(SOURCES)}, got {origin!r}")
    try:
        known = load_contracts(workflows)
    except ConfigError as exc:
        fail(str(exc))
    if workflow not in known:
        fail(f"workflow {workflow!r} is not in {workflows} (known: {', '.join(sorted(known))})")
    try:
        if origin == "promptfoo":
            result = import_promptfoo(source, workflow, frozenset(ignore_assert))
        else:
            if ignore_assert:
                fail("--ignore-assert applies to promptfoo only")
            result = SOURCES[origin](source, workflow)
    except ConfigError as exc:
        fail(str(exc))
    write(out, result.items)
    for note in result.warnings:
        errors.print(f"[yellow]warning[/]: {note}", highlight=False)
    for note in result.skipped:
        errors.print(f"skipped: {note}", highlight=False)
    for note in result.refusals:
        errors.print(f"[red]refused[/]: {note}", highlight=False)
    console.print(f"wrote {len(result.items)} item(s) to {out}; refused {len(result.refusals)}, "
                  f"skipped {len(result.skipped)}, {len(result.warnings)} warning(s)", highlight=False)
    if result.refusals:
        raise typer.Exit(1)


def _load(where: str, settings: WardenSettings) -> EvalRun:
    """A run directory, or an eval run id read back from the ledger (`warden eval run --emit`)."""
    from warden.evals.compare import load_run_dir
    from warden.evals.compare_ledger import is_run_id, load_run_ledger
    from warden.ledger import access

    path = Path(where)
    if path.is_dir() or not is_run_id(where):
        return load_run_dir(path)
    return load_run_ledger(lambda sql: access.query(settings, sql), where, settings.clickhouse_database)


def _write_reports(result: Comparison, markdown: Path | None, html: Path | None) -> None:
    from warden.evals.compare_render import to_html, to_markdown

    text = to_markdown(result)
    if markdown is None:
        typer.echo(text, nl=False)
    else:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(text, encoding="utf-8")
        typer.echo(result.verdict)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(to_html(result), encoding="utf-8")


MAX_SUCCESS_DROP = typer.Option(0.02, help="Largest success-rate drop allowed, absolute (0.02 = 2 points)")
MAX_VIOLATION_INCREASE = typer.Option(0.0, help="Largest violation-rate increase allowed, absolute")
MAX_COST_INCREASE = typer.Option(0.10, help="Largest cost-per-task increase allowed, relative (0.10 = 10%)")
MAX_LATENCY_INCREASE = typer.Option(None, help="Largest p95 latency increase, relative; unset: not gated")
ALPHA = typer.Option(None, help="Also require McNemar p < ALPHA before a success drop fails")


def compare_runs(
    base: str = typer.Argument(..., help="The base run: its directory (warden eval run --out) or its eval run id"),
    candidate: str = typer.Argument(..., help="The candidate run: directory or eval run id"),
    max_success_drop: float = MAX_SUCCESS_DROP,
    max_violation_increase: float = MAX_VIOLATION_INCREASE,
    max_cost_increase: float = MAX_COST_INCREASE,
    max_latency_increase: float | None = MAX_LATENCY_INCREASE,
    alpha: float | None = ALPHA,
    markdown: Path | None = typer.Option(None, "--markdown", help="Write the Markdown here instead of stdout"),
    html: Path | None = typer.Option(None, "--html", help="Also write a self-contained HTML page"),
) -> None:
    """Flipped items, metric deltas and an exact McNemar test; exit 1 on a regression beyond the thresholds."""
    from warden.evals.compare import Thresholds, compare

    settings = WardenSettings()
    try:
        result = compare(_load(base, settings), _load(candidate, settings), Thresholds(
            max_success_drop=max_success_drop, max_violation_increase=max_violation_increase,
            max_cost_increase=max_cost_increase, max_latency_increase=max_latency_increase, alpha=alpha))
    except WardenError as exc:
        fail(str(exc))
    _write_reports(result, markdown, html)
    if result.regressed:
        raise typer.Exit(1)


def watch(
    dataset: Path = typer.Argument(..., help="The suite (JSON lines)"),
    agent: str = typer.Option(..., "--agent", help="MODULE:FUNC, as for `warden eval run`"),
    tags: list[str] = typer.Option([], "--tags", help="Only items with any of these tags"),
    model: str | None = typer.Option(None, "--model", help="Override the model the agent declares"),
    prompt_version: str | None = typer.Option(None, "--prompt-version", help="Override the agent's prompt version"),
    release: str | None = typer.Option(None, "--release", help="The release under test"),
    policies: Path = typer.Option(DEFAULT_POLICIES, "--policies", help="Cedar policy bundle directory"),
    inventory: Path = typer.Option(DEFAULT_INVENTORY, "--inventory", help="Tool inventory"),
    workflows: Path = typer.Option(DEFAULT_WORKFLOWS_FILE, "--workflows", help="Workflow contracts and targets"),
    state: Path | None = typer.Option(None, "--state", help="The watch state file [DATA_DIR/evals/watch.json]"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="Where runs are written [DATA_DIR/evals/runs]"),
    force: bool = typer.Option(False, "--force", help="Run even if the fingerprint did not change"),
    every: float = typer.Option(0.0, "--every", help="Check again every SECONDS (0: check once and exit)"),
    max_success_drop: float = MAX_SUCCESS_DROP,
    max_violation_increase: float = MAX_VIOLATION_INCREASE,
    max_cost_increase: float = MAX_COST_INCREASE,
    max_latency_increase: float | None = MAX_LATENCY_INCREASE,
    alpha: float | None = ALPHA,
    markdown: Path | None = typer.Option(None, "--markdown", help="Write the comparison's Markdown here"),
    html: Path | None = typer.Option(None, "--html", help="Write the comparison's HTML page here"),
) -> None:
    """Re-run the suite when model, prompt, tool schemas, policy bundle or dataset changed; compare with the
    last passing run. Exit 0 passed (or unchanged since a pass), 1 regression or missed target, 2 bad input."""
    import time

    from warden.evals.compare import Thresholds
    from warden.evals.runner import EvalConfig, load_agent
    from warden.evals.watch import watch_once

    settings = WardenSettings()
    limits = Thresholds(max_success_drop=max_success_drop, max_violation_increase=max_violation_increase,
                        max_cost_increase=max_cost_increase, max_latency_increase=max_latency_increase, alpha=alpha)
    config = EvalConfig(policies=policies, inventory=inventory, workflows=workflows, release=release,
                        tags=tuple(t.strip() for v in tags for t in v.split(",") if t.strip()))
    state_file = state or settings.data_dir / "evals" / "watch.json"
    runs = runs_dir or settings.data_dir / "evals" / "runs"
    while True:
        try:
            spec = load_agent(agent, model, prompt_version)
            outcome = watch_once(dataset, spec, config, state_file, runs, limits, force)
        except WardenError as exc:
            fail(str(exc), 2)
        for note in outcome.notes:
            console.print(note, highlight=False)
        if outcome.ran:
            console.print(f"ran {dataset} ({'; '.join(outcome.changes)}) into {outcome.run_dir}: exit "
                          f"{outcome.exit_code}", highlight=False)
        if outcome.comparison is not None:
            _write_reports(outcome.comparison, markdown, html)
        if every <= 0:
            raise typer.Exit(outcome.exit_code)
        force = False
        time.sleep(every)


def register(eval_app: typer.Typer) -> None:
    eval_app.command("import")(import_suite)
    eval_app.command("compare")(compare_runs)
    eval_app.command("watch")(watch)
