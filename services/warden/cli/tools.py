"""`warden tools check`: the tool inventory against the policy bundle, before a proxy enforces it."""

from __future__ import annotations

from pathlib import Path

import typer

from warden.cli.output import console, fail, table
from warden.core.errors import ConfigError
from warden.policy.bundle import DEFAULT_POLICIES, load_bundle
from warden.tool_proxy.access import DEFAULT_ACCESS, load_access
from warden.tool_proxy.inventory import DEFAULT_INVENTORY, Finding, check_inventory, load_inventory

tools_app = typer.Typer(help="The tool inventory the tool proxy enforces.", no_args_is_help=True)


@tools_app.command("check")
def check(inventory: Path = typer.Option(DEFAULT_INVENTORY, "--inventory", help="The inventory YAML"),
          policies: Path = typer.Option(DEFAULT_POLICIES, "--policies", help="The policy bundle (workflows.toml)"),
          access: Path = typer.Option(DEFAULT_ACCESS, "--access", help="The allow/deny lists YAML")) -> None:
    """Schemas compile, every workflow's tools exist, v1 cap of 15 tools per workflow; exit 1 on an error."""
    try:
        inv = load_inventory(inventory)
        bundle = load_bundle(policies)
        lists = load_access(access)
    except ConfigError as exc:
        fail(str(exc))
    findings = check_inventory(inv, bundle)
    known = inv.qualified_actions | set(inv.tools) | {"*"}
    for kind, rules in (("tenant", lists.tenants), ("workflow", lists.workflows)):
        for name, rule in rules.items():
            for entry in sorted((rule.allow or frozenset()) | rule.deny):
                if entry not in known:
                    findings.append(Finding("warning", f"access list of {kind} {name} names {entry!r}, "
                                                       "which the inventory does not define"))
    rows = [[f"{t.name}.{a.name}", "yes" if a.read_only else "no", t.upstream_url + a.path, t.secret or "-"]
            for t in inv.tools.values() for a in t.actions.values()]
    console.print(table(["tool.action", "read-only", "upstream", "secret"], rows,
                        title=f"inventory {inv.path} (version {inv.version})"))
    for workflow in sorted(bundle.workflows.values(), key=lambda w: w.name):
        console.print(f"workflow {workflow.name}: {len(workflow.tools)} tool actions "
                      f"({', '.join(sorted(workflow.tools))})")
    for finding in findings:
        colour = "red" if finding.level == "error" else "yellow"
        console.print(f"[{colour}]{finding.level}[/]: {finding.message}", highlight=False)
    errors = sum(f.level == "error" for f in findings)
    if errors:
        fail(f"{errors} error(s) in the tool inventory")
    console.print(f"[green]ok[/]: {len(rows)} actions, schemas compile, every workflow's tools exist"
                  + (f"; {len(findings)} warning(s)" if findings else ""))
