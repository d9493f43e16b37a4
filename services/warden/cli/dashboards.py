"""`warden dashboards build` (thresholds and metric SQL from their sources into dashboards/*.json) and
`warden dashboards push` (the dashboards and their ClickHouse data source into a running Grafana)."""

from __future__ import annotations

from pathlib import Path

import typer

from warden.cli.output import console, fail
from warden.core.errors import WardenError
from warden.core.settings import WardenSettings
from warden.core.workflows import DEFAULT_WORKFLOWS_FILE
from warden.cost.prices import DEFAULT_PRICES
from warden.dashboards import build
from warden.dashboards.grafana import datasource_body, push
from warden.dashboards.model import DASHBOARDS_DIR

dashboards_app = typer.Typer(help="Grafana dashboards (dashboards/*.json).", no_args_is_help=True)


@dashboards_app.command("build")
def build_dashboards(
    check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 if a file is not what the sources "
                                                      "produce."),
    dashboards_dir: Path = typer.Option(DASHBOARDS_DIR, "--dashboards", help="Folder of dashboard JSON files."),
    workflows_file: Path = typer.Option(DEFAULT_WORKFLOWS_FILE, "--workflows", help="The workflow targets."),
    prices_file: Path = typer.Option(DEFAULT_PRICES, "--prices", help="The price table (spend in metric SQL)."),
) -> None:
    """Write each panel's thresholds (from the workflow targets) and its generated SQL into the JSON files."""
    try:
        built = build.build_all(build.Sources.load(workflows_file, prices_file), dashboards_dir)
        changed = build.stale(built) if check else build.write(built)
    except WardenError as exc:
        fail(str(exc))
    targets = sum(len(b.goals) for b in built)
    if check and changed:
        fail(f"{', '.join(p.name for p in changed)} differ from what the targets and the price table produce: "
             "run `warden dashboards build`", 1)
    verb = "up to date" if not changed else f"rewrote {', '.join(p.name for p in changed)}"
    console.print(f"dashboards: {len(built)} files, {targets} panels with a target: {verb}", highlight=False,
                  soft_wrap=True)


@dashboards_app.command("push")
def push_dashboards(
    grafana_url: str = typer.Option(..., "--grafana-url", envvar="WARDEN_GRAFANA_URL",
                                    help="e.g. http://127.0.0.1:3000"),
    token: str = typer.Option(..., "--token", envvar="WARDEN_GRAFANA_TOKEN",
                              help="A Grafana service account token (Admin role: it creates the data source)."),
    clickhouse_host: str | None = typer.Option(None, help="ClickHouse host as Grafana reaches it "
                                                          "(default: as provisioned for compose, 'clickhouse')."),
    clickhouse_port: int | None = typer.Option(None, help="ClickHouse HTTP port (default 8123)."),
    clickhouse_protocol: str | None = typer.Option(None, help="http or native (default http)."),
    clickhouse_user: str | None = typer.Option(None, help="Grafana's read-only ClickHouse user (default: grafana, "
                                                          "created by infra/clickhouse/initdb)."),
    clickhouse_password: str = typer.Option("", envvar="GRAFANA_CLICKHOUSE_PASSWORD",
                                            help="That user's password (or GRAFANA_CLICKHOUSE_PASSWORD)."),
    dashboards_dir: Path = typer.Option(DASHBOARDS_DIR, "--dashboards", help="Folder of dashboard JSON files."),
) -> None:
    """Create or update the ClickHouse data source and every dashboard (folder "Warden")."""
    settings = WardenSettings()
    try:
        source = datasource_body(clickhouse_host, clickhouse_port, clickhouse_protocol, clickhouse_user,
                                 clickhouse_password, settings.clickhouse_database)
        result = push(grafana_url, token, build.dashboards(directory=dashboards_dir), source)
    except WardenError as exc:
        fail(str(exc))
    console.print(f"Grafana {result.grafana_version} at {grafana_url}: data source {source['uid']} "
                  f"{result.datasource}; dashboards {', '.join(result.dashboards)} saved in folder Warden",
                  highlight=False, soft_wrap=True)
