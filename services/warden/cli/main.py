"""`warden`: one command for operators, platform engineers and analysts."""

from __future__ import annotations

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
    stack,
    token,
    tools,
)
from warden.cli import eval as eval_cli

app = typer.Typer(help="Warden: the production control plane for LLM agent workflows.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
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
app.add_typer(tools.tools_app, name="tools")
app.add_typer(token.token_app, name="token")
app.command("report")(report.report)
app.add_typer(dashboards.dashboards_app, name="dashboards")
app.add_typer(eval_cli.eval_app, name="eval")
eval_suites.register(eval_cli.eval_app)  # import, compare, watch

if __name__ == "__main__":
    app()
