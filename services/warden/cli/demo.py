"""`warden demo`: start the embedded stack, simulate three tenants' agents, show what landed."""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.live import Live
from rich.table import Table

from warden.approvals.settings import ApprovalsSettings
from warden.cli.output import console, fail, table
from warden.core import topics
from warden.core.errors import WardenError
from warden.core.events import AgentEvent
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.cost.prices import PriceTable
from warden.cost.report import CostCheck, per_task
from warden.cost.report import check as check_costs
from warden.demo.approver import APPROVER, ApproverTally, work_queue
from warden.demo.simulator import Simulator, malformed
from warden.ledger import access
from warden.report.build import build_report
from warden.runtime import clients
from warden.sdk import WardenClient
from warden.stack import Stack


def _progress(emitted: int, target: int, landed: int, dead: int, decided: int, elapsed: float,
              scored: int = 0) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_row("[bold]emitted[/]", f"{emitted:,} / {target:,}", "[bold]landed in ClickHouse[/]",
                 f"{landed:,}", "[bold]policy decisions[/]", f"{decided:,}", "[bold]risk scores[/]", f"{scored:,}",
                 "[bold]dead letters[/]", f"{dead:,}",
                 f"{landed / elapsed:,.0f} events/s" if elapsed > 0 else "")
    return grid


def demo(
    events: int = typer.Option(20_000, "--events", "-n", help="How many agent events to simulate."),
    bad: int = typer.Option(14, "--bad", help="Malformed records a buggy client sends among them."),
    seed: int = typer.Option(7, help="Simulation seed (same seed, same runs)."),
    keep_running: bool = typer.Option(False, "--keep-running", help="Leave the stack up afterwards."),
    timeout_s: float = typer.Option(300.0, "--timeout", help="Give up waiting for the ledger after this."),
) -> None:
    """Run Warden end to end on this machine with simulated agent platforms."""
    settings = WardenSettings()
    prefix = f"demo-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
    now = datetime.now(UTC).replace(microsecond=0)
    # The simulated runs end about now: dashboards over "the last hours" show them, and approval
    # requests older than the approval timeout expire while the recent ones wait for the approver.
    probe = list(Simulator(seed, now, prefix).events(events))
    simulator = Simulator(seed, now - (probe[-1].occurred_at - probe[0].occurred_at) - timedelta(seconds=30), prefix)
    simulated = list(simulator.events(events))
    approvals = ApprovalsSettings()
    token = secrets.token_urlsafe(24)
    tokens = approvals.approver_tokens_env()
    approver_env = {"WARDEN_APPROVER_TOKENS": json.dumps({**tokens, APPROVER: token})}
    host = "127.0.0.1" if approvals.approvals_host in ("0.0.0.0", "::") else approvals.approvals_host
    approver = (f"http://{host}:{approvals.approvals_port}", token)
    console.print(f"[bold]Warden demo[/] {prefix}: {len(simulated):,} events from {simulator.seen.runs:,} runs "
                  f"of 3 tenants and 4 workflows, plus {bad} malformed records")
    try:
        with console.status("starting the embedded broker (Tansu) and the services..."):
            stack = Stack(settings, env=approver_env).start()
    except WardenError as exc:
        fail(str(exc))
    try:
        live_settings = settings.model_copy(update={"kafka_bootstrap_servers": stack.bootstrap})
        _run(live_settings, settings, simulated, simulator, prefix, bad, seed, timeout_s, approver)
        if keep_running:
            console.print("The stack stays up (Ctrl-C stops it).")
            stop = threading.Event()
            from warden.cli.stack import stop_on_signals

            stop_on_signals(stop)
            stack.supervise(stop)
    except WardenError as exc:
        fail(str(exc))
    finally:
        with console.status("stopping the stack..."):
            stack.stop()


def _run(live: WardenSettings, settings: WardenSettings, simulated: list[AgentEvent], simulator: Simulator,
         prefix: str, bad: int, seed: int, timeout_s: float, approver: tuple[str, str]) -> None:
    wire = wire_for(live)
    bad_records = malformed(wire.codec.encode, seed, simulated[0].occurred_at, bad, prefix)
    emitted = [0]
    failure: list[BaseException] = []

    def emit() -> None:
        try:
            with WardenClient(live) as client:
                for i, event in enumerate(simulated):
                    client.emit(event)
                    emitted[0] = i + 1
            raw = clients.plain_producer(live)  # no guarantees: it stands in for a foreign client
            for key, value in bad_records:
                raw.produce(live.topic(topics.AGENT_EVENTS), value, key=key)
            raw.flush(30)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    started = time.monotonic()
    sender = threading.Thread(target=emit, name="demo-agents", daemon=True)
    sender.start()
    landed = dead = decided = scored = 0
    calls = sum(1 for e in simulated if e.event_type == "tool_call_requested")
    count_sql = (f"SELECT (SELECT count() FROM warden.agent_events WHERE run_id LIKE '{prefix}-%'), "
                 f"(SELECT count() FROM warden.dead_letters WHERE source_key LIKE '{prefix}-bad-%'), "
                 f"(SELECT count() FROM warden.policy_decisions WHERE run_id LIKE '{prefix}-%'), "
                 f"(SELECT uniqExact(event_id) FROM warden.risk_scores WHERE run_id LIKE '{prefix}-%')")
    scorable = calls + sum(1 for e in simulated if e.event_type == "run_completed")
    with Live(_progress(0, len(simulated), 0, 0, 0, 0), console=console, refresh_per_second=4) as view:
        while time.monotonic() - started < timeout_s:
            if failure:
                raise WardenError(f"the simulated agents could not emit: {failure[0]}")
            _, rows = access.query(settings, count_sql)
            landed, dead, decided, scored = (int(v) for v in rows[0][:4])
            view.update(_progress(emitted[0], len(simulated), landed, dead, decided, time.monotonic() - started,
                                  scored))
            if landed >= len(simulated) and dead >= bad and decided >= calls and scored >= scorable:
                break
            time.sleep(0.5)
    elapsed = time.monotonic() - started
    if landed < len(simulated) or dead < bad or decided < calls or scored < scorable:
        raise WardenError(f"after {elapsed:.0f} s only {landed:,}/{len(simulated):,} events, {decided:,}/{calls:,} "
                          f"policy decisions, {scored:,}/{scorable:,} risk scores and {dead}/{bad} dead letters "
                          "landed; see the logs in "
                          f"{settings.data_dir / 'logs'}")
    costs = _wait_for_costs(settings, max(30.0, timeout_s - elapsed))
    tally = _approve(settings, prefix, approver, seed, started + timeout_s)
    events_file = settings.data_dir / "demo-events.jsonl"
    with open(events_file, "w") as out:
        for event in simulated:
            out.write(json.dumps(event.to_json_view()) + "\n")
    _summary(settings, prefix, elapsed, events_file, simulator, costs, simulated[0].occurred_at, tally)
    with console.status("rendering the report..."):
        report, drawn, total = build_report(settings, settings.data_dir / "report.html")
    console.print(f"\n[bold]Report[/] ({drawn} of {total} dashboard panels with data): [bold]{report}[/]\n"
                  f"  open it in a browser; rebuild it any time with: .venv/bin/warden report --out report.html",
                  highlight=False, soft_wrap=True)


def _wait_for_costs(settings: WardenSettings, timeout_s: float) -> CostCheck:
    """The aggregator closes a quiet partition's windows after its idle flush time: wait for the
    landed rollups to reach what SQL computes from the landed events."""
    prices = PriceTable.load()
    deadline = time.monotonic() + timeout_s
    with console.status("waiting for the cost-aggregator's last windows to land..."):
        while True:
            result = check_costs(settings, prices)
            if not result.problems or time.monotonic() > deadline:
                return result
            time.sleep(1.0)


def _approve(settings: WardenSettings, prefix: str, approver: tuple[str, str], seed: int,
             deadline: float) -> ApproverTally:
    """Work the approval queue until every request of this demo has an outcome in the ledger."""
    url, token = approver
    rng = random.Random(seed)
    tally = ApproverTally()
    count_sql = (f"SELECT (SELECT count() FROM warden.policy_decisions WHERE run_id LIKE '{prefix}-%' "
                 f"AND decision = 'require_approval'), "
                 f"(SELECT count() FROM warden.approvals WHERE run_id LIKE '{prefix}-%')")
    with console.status("a simulated approver works the approval queue..."):
        while time.monotonic() < deadline:
            work_queue(url, token, rng, tally)
            _, rows = access.query(settings, count_sql)
            if int(rows[0][1]) >= int(rows[0][0]):
                return tally
            time.sleep(0.5)
    raise WardenError(f"approval outcomes did not all land in time (approved {tally.approved}, rejected "
                      f"{tally.rejected} so far); see the logs in {settings.data_dir / 'logs'}")


def _summary(settings: WardenSettings, prefix: str, elapsed: float, events_file: Path,
             simulator: Simulator, costs: CostCheck, started: datetime, tally: ApproverTally) -> None:
    where = f"run_id LIKE '{prefix}-%'"
    columns, rows = access.query(settings, (
        "SELECT tenant_id, workflow, uniqExact(run_id) AS runs, count() AS events, "
        "countIf(event_type = 'tool_call_requested') AS tool_calls, "
        "countIf(event_type = 'tool_call_completed' AND status = 'error') AS tool_errors, "
        "round(sumIf(cost_usd, cost_usd IS NOT NULL), 2) AS priced_usd, sum(redactions) AS redactions "
        f"FROM warden.agent_events WHERE {where} GROUP BY tenant_id, workflow ORDER BY tenant_id, workflow"))
    console.print(table(columns, rows, title="Read back from ClickHouse (warden.agent_events)"))
    columns, rows = access.query(settings, (
        "SELECT error_kind, reason, count() AS n FROM warden.dead_letters "
        f"WHERE source_key LIKE '{prefix}-bad-%' GROUP BY error_kind, reason ORDER BY error_kind, reason"))
    console.print(table(columns, [[k, r[:90], n] for k, r, n in rows], title="Dead letters (warden.dead_letters)"))
    columns, rows = access.query(settings, (
        "SELECT decision, arrayStringConcat(policy_ids, ', ') AS policies, countIf(stop_ship) AS stop_ship, "
        f"count() AS calls FROM warden.policy_decisions WHERE {where} GROUP BY decision, policies "
        "ORDER BY calls DESC LIMIT 12"))
    console.print(table(columns, rows, title="Policy decisions (warden.policy_decisions)"))
    columns, rows = access.query(settings, (
        "SELECT workflow, count() AS calls, countIf(route_to_human) AS routed_to_human, "
        "round(100 * routed_to_human / calls, 1) AS routed_pct, "
        "countIf(reason LIKE '%not routed: policy%') AS top_share_left_to_policy, round(avg(score), 3) AS avg_score, "
        "round(quantile(0.95)(score), 3) AS p95_score FROM (SELECT * FROM warden.risk_scores "
        f"WHERE {where} AND subject = 'tool_call' ORDER BY event_id LIMIT 1 BY event_id) "
        "GROUP BY workflow ORDER BY workflow"))
    console.print(table(columns, rows, title="Risk scores of tool calls (warden.risk_scores)"))
    _, rows = access.query(settings, (
        "SELECT run_id, workflow, score, reason FROM warden.risk_scores "
        f"WHERE {where} AND subject = 'run' ORDER BY score DESC, run_id LIMIT 1"))
    for run_id, workflow, score, reason in rows:
        console.print(f"riskiest run: {run_id} ({workflow}) scored {score:.3f}: {str(reason)[:120]}", highlight=False)
    _, rows = access.query(settings, (
        "SELECT scope, actor, reason FROM warden.control_changes WHERE active AND actor = 'warden:stop-ship' "
        f"AND reason LIKE '%{prefix}%' ORDER BY at"))
    for scope, actor, reason in rows:
        console.print(f"[red]kill switch {scope}[/] set by {actor}: {str(reason)[:140]}", highlight=False)
    if rows:
        console.print("  (stop-ship conditions; clear one with: .venv/bin/warden revive workflow:NAME --reason ...)",
                      highlight=False)
    columns, rows = per_task(settings)
    console.print(table(columns, rows, title="Cost per task, whole ledger (warden.cost_rollups; .venv/bin/warden cost "
                                             "summary)"))
    if costs.problems:
        console.print(f"[red]stream and SQL cost totals still differ[/] for {len(costs.problems)} keys "
                      "(.venv/bin/warden cost check)", highlight=False)
    else:
        console.print(f"[green]cost stream = SQL over raw events[/]: ${costs.sql_usd:,.2f} on {costs.keys} "
                      f"tenant/workflow/model/route keys; {costs.unpriced_calls} calls of a model missing from the "
                      "price table counted as unpriced, not as $0", highlight=False)
    _, rows = access.query(settings, (
        "SELECT severity, rule, summary FROM warden.alerts WHERE rule IN ('budget_soft', 'budget_hard') "
        f"AND last_seen >= toDateTime64('{started:%Y-%m-%d %H:%M:%S}', 3, 'UTC') ORDER BY last_seen"))
    for severity, rule, summary in rows:
        console.print(f"[yellow]budget {severity}[/] ({rule}): {summary}", highlight=False)
    columns, rows = access.query(settings, (
        "SELECT approver, toString(decision) AS decision, count() AS calls FROM warden.approvals "
        f"WHERE {where} GROUP BY approver, decision ORDER BY approver, decision"))
    console.print(table(columns, rows, title="Approvals (warden.approvals)"))
    console.print(f"  {APPROVER} approved {tally.approved} and rejected {tally.rejected} recent requests; "
                  "older ones expired (nobody decided within the approval timeout)", highlight=False)
    _alerts_summary(settings, started)
    seen = simulator.seen
    console.print(
        f"In these runs for the later processors to catch: {seen.refunds_over_100} refunds over $100, "
        f"{seen.exports_over_1000} exports over 1,000 rows, {seen.deletes} deletes, "
        f"{seen.out_of_inventory} out-of-inventory tools, {seen.runaway_runs} runaway loops, "
        f"{seen.tool_failures} tool failures, {seen.cost_spike_calls} cost-spike LLM calls.")
    console.print(f"\nLanded in {elapsed:.1f} s. The ledger lives at [bold]{settings.ledger_url}[/].")
    console.print("Query it (read-only) with, for example:")
    console.print(f'  .venv/bin/warden query "SELECT event_type, count() FROM warden.agent_events '
                  f"WHERE {where} GROUP BY event_type\"", highlight=False, soft_wrap=True)
    console.print("  .venv/bin/warden ledger verify", highlight=False)
    console.print(f"Replay the same events offline:\n  .venv/bin/warden replay {events_file} --out replay-out",
                  highlight=False, soft_wrap=True)


def _alerts_summary(settings: WardenSettings, started: datetime) -> None:
    """What on-call would have been told: the anomaly-alerter's pages and tickets, grouped by fingerprint.
    The alerter releases the last records once every partition is idle, so its count settles a moment
    after the events have landed."""
    sql = ("SELECT kind, rule, any(severity) AS severity, uniqExact(alert_id) AS alerts, "
           "countIf(status = 'resolved') AS resolved, max(count) AS largest_count FROM warden.alerts "
           f"WHERE last_seen >= toDateTime64('{started:%Y-%m-%d %H:%M:%S}', 3, 'UTC') "
           "AND kind IN ('unauthorized_action', 'repeated_tool_failures', 'runaway_steps', 'cost_spike', "
           "'success_rate_drop', 'policy_block_spike') AND rule NOT IN ('cost_regression') "
           "GROUP BY kind, rule ORDER BY severity, kind, rule")
    deadline, previous = time.monotonic() + 15, None
    with console.status("waiting for the anomaly-alerter's last alerts to land..."):
        while True:
            columns, rows = access.query(settings, sql)
            if (rows and rows == previous) or time.monotonic() > deadline:
                break
            previous = rows
            time.sleep(1.0)
    console.print(table(columns, rows, title="Alerts for on-call (warden.alerts; receivers: see README 'On-call')"))
