"""`warden policy validate | test | diff`: check a bundle before it ships."""

from __future__ import annotations

from pathlib import Path

import typer

from warden.cli.output import console, fail, table
from warden.core.errors import WardenError
from warden.policy.bundle import DEFAULT_POLICIES, load_bundle
from warden.replay.policy import diff as diff_bundles
from warden.replay.policy import run_cases

policy_app = typer.Typer(help="Policy bundles: validate, unit-test and diff them before deploy.",
                         no_args_is_help=True)


@policy_app.command("validate")
def validate(policies: Path = typer.Argument(DEFAULT_POLICIES, help="Bundle directory")) -> None:
    """Parse the bundle and validate it against Warden's Cedar schema."""
    try:
        bundle = load_bundle(policies)
    except WardenError as exc:
        fail(str(exc))
    rows = [[i.policy_id, i.effect, i.outcome] for i in bundle.policies.values()]
    console.print(table(["policy", "effect", "outcome"], rows, title=f"bundle {bundle.version} ({policies})"))
    console.print(f"[green]valid[/]: {len(rows)} policies, {len(bundle.workflows)} workflows")


@policy_app.command("test")
def test(
    cases: list[Path] = typer.Argument(None, help="Case files (YAML); default: the bundle's tests/*.yaml"),
    policies: Path = typer.Option(DEFAULT_POLICIES, "--policies", help="Bundle directory"),
) -> None:
    """Run policy unit cases (request -> expected decision) and print a pass/fail table."""
    files = list(cases) if cases else sorted((policies / "tests").glob("*.yaml"))
    if not files:
        fail(f"no case files given and none in {policies / 'tests'}", 2)
    try:
        results = run_cases(load_bundle(policies), files)
    except WardenError as exc:
        fail(str(exc))
    rows = [["[green]pass[/]" if r.passed else "[red]FAIL[/]", r.name, r.expected, r.got,
             ", ".join(r.policy_ids) or "-", r.reason if not r.passed else ""] for r in results]
    console.print(table(["", "case", "expected", "got", "policies", "why"], rows))
    failed = sum(not r.passed for r in results)
    console.print(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


@policy_app.command("diff")
def diff(
    old: Path = typer.Argument(..., help="The bundle in force"),
    new: Path = typer.Argument(..., help="The candidate bundle"),
    on: Path = typer.Option(..., "--on", help="Recorded AgentEvents (JSON lines) to decide with both"),
    show: int = typer.Option(20, help="How many changed calls to list"),
) -> None:
    """Which recorded calls would change decision, with counts per rule."""
    try:
        result = diff_bundles(load_bundle(old), load_bundle(new), on)
    except WardenError as exc:
        fail(str(exc))
    console.print(table(["old", "new", "rules that changed", "calls"], [list(r) for r in result.per_rule()],
                        title=f"{len(result.changes)} of {result.calls} recorded calls change decision"))
    if result.changes:
        rows = [[c.event_id, c.call[:60], c.old, c.new, c.rules] for c in result.changes[:show]]
        console.print(table(["event", "call", "old", "new", "rules"], rows))
    if result.bad_lines:
        console.print(f"[yellow]{len(result.bad_lines)} bad line(s) in {on} were skipped[/]")
