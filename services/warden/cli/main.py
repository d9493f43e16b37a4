"""`warden`: one command for operators, platform engineers and analysts."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version

import typer

from warden.cli import (
    approvals,
    control,
    cost,
    dashboards,
    demo,
    eval_suites,
    ledger,
    policy,
    replay,
    report,
    rollout,
    schemas,
    stack,
    switches,
    token,
    tools,
    workflow,
)
from warden.cli import eval as eval_cli

app = typer.Typer(help="Warden: the production control plane for LLM agent workflows.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)


def _version(value: bool) -> None:
    if value:
        try:
            found = installed_version("warden")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "unknown (not installed: run `make setup`)"
        typer.echo(f"warden {found}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print Warden's version and exit.")) -> None:
    """Warden: the production control plane for LLM agent workflows."""


app.command("up")(stack.up)
app.command("run")(stack.run)
app.command("demo")(demo.demo)
app.command("query")(ledger.query)
app.command("replay")(replay.replay)
app.add_typer(ledger.ledger_app, name="ledger")
app.add_typer(stack.topics_app, name="topics")
app.add_typer(policy.policy_app, name="policy")
app.add_typer(approvals.approvals_app, name="approvals")
app.add_typer(cost.cost_app, name="cost")
app.command("kill")(control.kill)
app.command("revive")(control.revive)
app.command("switches")(switches.switches)
app.add_typer(tools.tools_app, name="tools")
app.add_typer(token.token_app, name="token")
app.command("report")(report.report)
app.add_typer(dashboards.dashboards_app, name="dashboards")
app.add_typer(eval_cli.eval_app, name="eval")
eval_suites.register(eval_cli.eval_app)  # import, compare, watch
app.add_typer(rollout.rollout_app, name="rollout")
app.add_typer(workflow.workflow_app, name="workflow")
app.add_typer(schemas.schemas_app, name="schemas")

if __name__ == "__main__":
    app()
