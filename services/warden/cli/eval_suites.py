"""`warden eval import | compare | watch`: bringing suites in, gating regressions, re-running on change.

Registered on the `eval` group of warden.cli.eval (`register`), kept apart from `eval run` so each
file has one job.
"""

from __future__ import annotations

from pathlib import Path

import typer

from warden.cli.output import console, errors, fail
from warden.core.errors import ConfigError
from warden.core.workflows import DEFAULT_WORKFLOWS_FILE, load_contracts
from warden.evals.compare import Thresholds, compare, load_run_dir
from warden.evals.compare_render import to_html, to_markdown
from warden.evals.dataset import write
from warden.evals.importers import SOURCES
from warden.evals.importers.promptfoo import import_promptfoo


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


def compare_runs(
    base: Path = typer.Argument(..., help="The base eval run's directory (warden eval run --out)"),
    candidate: Path = typer.Argument(..., help="The candidate eval run's directory"),
    max_success_drop: float = typer.Option(0.02, help="Largest success-rate drop allowed, absolute (0.02 = 2 points)"),
    max_violation_increase: float = typer.Option(0.0, help="Largest violation-rate increase allowed, absolute"),
    max_cost_increase: float = typer.Option(0.10, help="Largest cost-per-task increase allowed, relative (0.10 = 10%)"),
    max_latency_increase: float | None = typer.Option(
        None, help="Largest p95 latency increase, relative; unset: not gated"),
    alpha: float | None = typer.Option(None, help="Also require McNemar p < ALPHA before a success drop fails"),
    markdown: Path | None = typer.Option(None, "--markdown", help="Write the Markdown here instead of stdout"),
    html: Path | None = typer.Option(None, "--html", help="Also write a self-contained HTML page"),
) -> None:
    """Flipped items, metric deltas and an exact McNemar test; exit 1 on a regression beyond the thresholds."""
    try:
        result = compare(load_run_dir(base), load_run_dir(candidate), Thresholds(
            max_success_drop=max_success_drop, max_violation_increase=max_violation_increase,
            max_cost_increase=max_cost_increase, max_latency_increase=max_latency_increase, alpha=alpha))
    except ConfigError as exc:
        fail(str(exc))
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
    if result.regressed:
        raise typer.Exit(1)


def register(eval_app: typer.Typer) -> None:
    eval_app.command("import")(import_suite)
    eval_app.command("compare")(compare_runs)
