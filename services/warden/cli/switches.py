"""`warden switches`: the kill switches and read-only modes in force, and how they got there.

In force is what the control topic says now (the same view the evaluator, the SDK and the proxy
keep, warden.kafka.control.ControlView); history is the ledger's `control_changes`, which keeps
every change (also those of an embedded broker that has since restarted empty).
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.text import Text

from warden.broker.probe import require_broker
from warden.cli.output import console, fail
from warden.core import topics
from warden.core.errors import WardenError
from warden.core.events import iso_millis
from warden.core.records import Control
from warden.core.settings import WardenSettings
from warden.kafka.control import ControlView
from warden.ledger import access

READ_S = 10.0


def in_force(settings: WardenSettings) -> list[Control]:
    require_broker(settings)  # one line within seconds when nothing listens, not librdkafka's retries
    view = ControlView(settings)
    try:
        if not view.caught_up.wait(READ_S):
            raise WardenError(f"the control topic {settings.topic(topics.CONTROL)} at {settings.bootstrap_servers} "
                              f"was not read to its end within {READ_S:.0f} s")
        return sorted(view.switches.active.values(), key=lambda c: (c.at, c.key))
    finally:
        view.close()


def history(settings: WardenSettings, limit: int) -> list[dict[str, Any]]:
    sql = (f"SELECT at, kind, scope, active, actor, reason FROM {settings.clickhouse_database}.control_changes "
           f"WHERE rollout IS NULL AND rollout_command IS NULL ORDER BY at DESC, record_id LIMIT {int(limit)}")
    columns, rows = access.query(settings, sql)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _line(at: str, kind: str, scope: str, state: str, actor: str, reason: str) -> Text:
    """One switch, one line (wrapped at spaces on a narrow terminal, never cutting a scope or a name)."""
    line = Text(f"{at}  ")
    line.append(f"{kind} {state}", style="red" if state == "ON" else "green")
    line.append(f"  {scope}", style="bold")
    line.append(f"  by {actor}: {reason}")  # free text: a Text, never console markup
    return line


def switches(
    last: int = typer.Option(20, "--history", "-n", min=0, help="How many past changes to show (0: none)"),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json"),
) -> None:
    """The switches in force (control topic) and the last changes (ledger control_changes)."""
    if fmt not in ("table", "json"):
        fail(f"--format must be table or json, got {fmt!r}", 2)
    settings = WardenSettings()
    try:
        active = in_force(settings)
        past = history(settings, last) if last else []
    except WardenError as exc:
        fail(str(exc))
    if fmt == "json":
        print(json.dumps({"in_force": [{"kind": c.kind.value, "scope": c.scope, "actor": c.actor, "reason": c.reason,
                                        "at": iso_millis(c.at)} for c in active],
                          "history": [{**row, "at": str(row["at"])} for row in past]}, indent=2))
        return
    console.print(f"[bold]{len(active)} switch(es) in force[/] (control topic)", highlight=False)
    for c in active:
        console.print(_line(f"{c.at:%Y-%m-%d %H:%M:%S}Z", c.kind.value, c.scope, "ON", c.actor, c.reason))
    if last:
        console.print(f"\n[bold]last {len(past)} change(s)[/] (ledger control_changes, newest first)",
                      highlight=False)
        for r in past:
            console.print(_line(str(r["at"]).replace("T", " ")[:19] + "Z", str(r["kind"]), str(r["scope"]),
                                "ON" if r["active"] else "off", str(r["actor"]), str(r["reason"])))
