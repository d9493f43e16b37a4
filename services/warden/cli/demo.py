"""`warden demo`: start the embedded stack, play the story (warden.demo.story) with three tenants'
simulated agents, show what landed.

Deterministic for a seed on a fresh ledger: the event times start on a whole hour, the simulated
agents ask the SDK for their release only once the controller's decision is known, the approver
decides on what a request asks, and nothing in the summary depends on the machine's speed (the
timings printed aside). README "After make demo" says what to look at.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from warden.approvals.settings import ApprovalsSettings
from warden.cli.output import console, fail
from warden.core import topics
from warden.core.errors import WardenError
from warden.core.settings import WardenSettings
from warden.core.wire import wire_for
from warden.cost.prices import PriceTable
from warden.cost.sql import per_task_sql
from warden.demo import story
from warden.demo.agents import Platform
from warden.demo.approver import APPROVER, Approver
from warden.demo.director import Director, query
from warden.demo.simulator import malformed
from warden.kafka import clients
from warden.ledger.cost_report import CostCheck
from warden.ledger.cost_report import check as check_costs
from warden.report.build import build_report
from warden.rollout_controller.operate import Rollouts
from warden.rollout_controller.settings import RolloutControllerSettings
from warden.sdk import WardenClient
from warden.stack import Stack

DEMO_APPROVAL_TIMEOUT_S = 3 * 24 * 3600  # the story's requests are hours old in event time: they wait for the approver
# The story's event time runs some 500 times faster than the wall clock, so a partition that lags the others
# by a fraction of a second lags by minutes of event time: the alerter's ordering allowance is sized for that
# (docs/decisions/0003-alerting-on-event-time.md), or its records come out late and its alerts vary run to run.
DEMO_ALERT_LATENESS_MS = 15 * 60 * 1000
YOU = "you@warden.local"  # --interactive: the person running the demo, an approver too
STORY_HOURS = 6  # event time the story spans with its own traffic (a larger --events adds to it)


def say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


class _Progress:
    """Story lines with the wall time since the story began (one line each: readable in a log too)."""

    def __init__(self) -> None:
        self.began = time.monotonic()

    def __call__(self, text: str) -> None:
        say(f"[dim]{time.monotonic() - self.began:6.1f} s[/] {text}")


def _table(columns: list[str], rows: list[list[Any]] | list[tuple[Any, ...]], title: str) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*("∅" if v is None else str(v) for v in row))
    return out


def show(columns: list[str], rows: list[list[Any]] | list[tuple[Any, ...]], title: str) -> None:
    console.print(_table(columns, rows, title))


def story_start(now: datetime, events: int, after: datetime | None = None) -> datetime:
    """A whole hour, far enough back that every event is in the past: the story's windows (alerts, cost
    rollups) fall the same way on every run, so its summaries are the same.

    ``after``: the latest event time of an earlier demo in this ledger. A story that started before it would
    play on event times the services' clocks have already passed (its rollouts saw none of their runs and
    held for ever), so the story starts on the second whole hour after it instead, in the future if need be."""
    extra_h = max(0, events - 35_000) * 0.55 / 3600
    hours = STORY_HOURS + int(extra_h) + 2
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)
    if after is not None and start <= after:
        start = after.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    return start


def demo(
    events: int = typer.Option(20_000, "--events", "-n",
                               help="At least this many agent events (the story's own traffic is about 30,000)."),
    bad: int = typer.Option(14, "--bad", help="Malformed records a buggy client sends among them."),
    seed: int = typer.Option(7, help="Simulation seed (same seed, same story)."),
    keep_running: bool = typer.Option(False, "--keep-running", help="Leave the stack up afterwards."),
    interactive: bool = typer.Option(False, "--interactive",
                                     help="Leave one approval request for you to decide; keeps the stack up."),
    rollouts: bool = typer.Option(True, "--rollouts/--no-rollouts", help="Play the two rollouts (most of the "
                                  "story's traffic); without them the incident and the revive still happen."),
    timeout_s: float = typer.Option(600.0, "--timeout", help="Give up waiting for the stack after this."),
) -> None:
    """Run Warden end to end on this machine with simulated agent platforms."""
    settings = WardenSettings()
    approvals = ApprovalsSettings()
    tokens = {**approvals.approver_tokens_env(), APPROVER: secrets.token_urlsafe(24)}
    if interactive:
        tokens[YOU] = secrets.token_urlsafe(24)
        keep_running = True
    env = {"WARDEN_APPROVER_TOKENS": json.dumps(tokens), "WARDEN_APPROVAL_TIMEOUT_S": str(DEMO_APPROVAL_TIMEOUT_S),
           "WARDEN_ALERT_LATENESS_MS": str(DEMO_ALERT_LATENESS_MS)}
    url = approvals.local_approvals_url  # the demo's own stack, wherever WARDEN_APPROVALS_URL points
    rolled = "two releases roll out, " if rollouts else ""
    say(f"[bold]Warden demo[/], seed {seed}: three tenants' agents run the four reference workflows; {rolled}a "
        f"stop-ship trips, an operator revives, a human approves (plus {bad} malformed records)")
    try:
        with console.status("starting the embedded broker (Tansu) and the services..."):
            stack = Stack(settings, env=env).start()
    except WardenError as exc:
        fail(str(exc))
    try:
        live = stack.client_settings()
        _run(live, settings, seed, events, bad, rollouts, timeout_s, Approver(url, tokens[APPROVER], interactive),
             keep_running)
        if interactive:
            _interactive(url, tokens[YOU])
        if keep_running:
            say("The stack stays up (Ctrl-C stops it).")
            stop = threading.Event()
            from warden.cli.stack import stop_on_signals

            stop_on_signals(stop)
            stack.supervise(stop)
    except WardenError as exc:
        fail(str(exc))
    finally:
        with console.status("stopping the stack..."):
            stack.stop()


def _prefix(settings: WardenSettings, seed: int) -> str:
    """demo-s<seed>-<n>: the n-th demo of this seed in this ledger (its ids must not repeat an earlier one's)."""
    _, rows = query(settings, (
        f"SELECT max(toUInt32OrZero(extract(run_id, '^demo-s{seed}-([0-9]+)-'))) FROM warden.agent_events "
        f"WHERE run_id LIKE 'demo-s{seed}-%' AND event_type = 'run_started'"))
    return f"demo-s{seed}-{int(rows[0][0] or 0) + 1:03d}"


def _unused_prefix(operated: Rollouts, prefix: str) -> str:
    """The next demo number whose rollout ids the controller has not seen: a demo that failed after starting
    its rollouts but before any run landed left its number unused in the ledger, and the controller drops a
    start whose id it already applied."""
    operated.wait_ready()
    stem, _, count = prefix.rpartition("-")
    n = int(count)
    workflows = (story.COST_ROLLOUT, story.PROMOTED_ROLLOUT)
    while any((stage := operated.stage(w)) is not None
              and stage.rollout_id == Director.rollout_id(f"{stem}-{n:03d}", w) for w in workflows):
        n += 1
    return f"{stem}-{n:03d}"


def _latest_demo_event(settings: WardenSettings) -> datetime | None:
    """The event time an earlier demo in this ledger reached (any seed), or None on a fresh ledger."""
    _, rows = query(settings, "SELECT count(), max(occurred_at) FROM warden.agent_events WHERE run_id LIKE 'demo-s%'")
    if not rows or not int(rows[0][0]):
        return None
    latest = rows[0][1]
    if isinstance(latest, str):
        latest = datetime.fromisoformat(latest)
    assert isinstance(latest, datetime), f"expected a time from max(occurred_at), got {latest!r}"
    return latest if latest.tzinfo else latest.replace(tzinfo=UTC)


def _run(live: WardenSettings, settings: WardenSettings, seed: int, minimum: int, bad: int, rollouts: bool,
         timeout_s: float, approver: Approver, stays_up: bool) -> None:
    start = story_start(datetime.now(UTC), minimum, _latest_demo_event(settings))
    started = time.monotonic()
    settle = timedelta(seconds=RolloutControllerSettings().rollout_settle_s)
    with WardenClient(live) as client:
        operated = Rollouts(live)
        try:
            prefix = _unused_prefix(operated, _prefix(settings, seed))
            say(f"runs {prefix}-*, event time from {start:%Y-%m-%d %H:%M} UTC")
            platform = Platform(seed, start, prefix, client.release_for)
            director = Director(settings, client, operated, platform, approver, _Progress(), settle, rollouts,
                                timeout_s)
            director.play(start, minimum)
            ids = {w: s.rollout_id for w in operated.workflows() if (s := operated.stage(w)) is not None}
        finally:
            operated.close()
    simulated = director.emitted
    wire = wire_for(live)
    raw = clients.plain_producer(live)  # no guarantees: it stands in for a foreign client
    for key, value in malformed(wire.codec.encode, seed, simulated[0].occurred_at, bad, prefix):
        raw.produce(live.topic(topics.AGENT_EVENTS), value, key=key)
    raw.flush(30)
    _wait_landed(settings, prefix, director, bad, started + timeout_s)
    elapsed = time.monotonic() - started
    costs = _wait_for_costs(settings, max(30.0, timeout_s - elapsed))
    _settle_approvals(settings, prefix, approver, started + timeout_s)
    events_file = settings.data_dir / "demo-events.jsonl"
    with open(events_file, "w") as out:
        for event in simulated:
            out.write(json.dumps(event.to_json_view()) + "\n")
    _summary(settings, prefix, elapsed, events_file, platform, costs, simulated, approver, ids, stays_up)
    with console.status("rendering the report..."):
        report, drawn, total = build_report(settings, settings.data_dir / "report.html")
    say(f"\n[bold]Report[/] ({drawn} of {total} dashboard panels with data): [bold]{report}[/]\n"
        f"  open it in a browser; rebuild it any time with: .venv/bin/warden report --out report.html")


def _wait_landed(settings: WardenSettings, prefix: str, director: Director, bad: int, deadline: float) -> None:
    simulated = director.emitted
    calls = director.calls
    scorable = calls + sum(1 for e in simulated if e.event_type == "run_completed")
    sql = (f"SELECT (SELECT count() FROM warden.agent_events WHERE run_id LIKE '{prefix}-%'), "
           f"(SELECT count() FROM warden.dead_letters WHERE source_key LIKE '{prefix}-bad-%'), "
           f"(SELECT count() FROM warden.policy_decisions WHERE run_id LIKE '{prefix}-%'), "
           f"(SELECT uniqExact(event_id) FROM warden.risk_scores WHERE run_id LIKE '{prefix}-%')")
    landed = dead = decided = scored = 0
    with console.status("waiting for the last records to land..."):
        while time.monotonic() < deadline:
            _, rows = query(settings, sql)
            landed, dead, decided, scored = (int(v) for v in rows[0][:4])
            if landed >= len(simulated) and dead >= bad and decided >= calls and scored >= scorable:
                return
            time.sleep(0.5)
    raise WardenError(f"only {landed:,}/{len(simulated):,} events, {decided:,}/{calls:,} policy decisions, "
                      f"{scored:,}/{scorable:,} risk scores and {dead}/{bad} dead letters landed in time; see the "
                      f"logs in {settings.data_dir / 'logs'}")


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


def _settle_approvals(settings: WardenSettings, prefix: str, approver: Approver, deadline: float) -> None:
    """Work the queue until every request of this demo is decided and landed (one left pending with
    --interactive): nothing expires, the approval timeout is longer than the story."""
    sql = f"SELECT count() FROM warden.approvals WHERE run_id LIKE '{prefix}-%' OR run_id LIKE 'rollout:%'"
    quiet = 0
    with console.status(f"{APPROVER} works the approval queue..."):
        while time.monotonic() < deadline:
            approver.work()
            _, rows = query(settings, sql)
            waiting = [i for i in approver.pending() if i["call_id"] != approver.tally.held]
            quiet = quiet + 1 if not waiting and int(rows[0][0]) >= approver.tally.decided else 0
            if quiet >= 3:  # the risk-scorer's last routed calls have had time to arrive
                return
            time.sleep(0.5)
    raise WardenError(f"approval outcomes did not all land in time (approved {approver.tally.approved}, rejected "
                      f"{approver.tally.rejected} so far); see the logs in {settings.data_dir / 'logs'}")


def _interactive(url: str, token: str) -> None:
    say(f"\n[bold]Your turn[/]: one refund request waits for you ({YOU}). In another shell:\n"
        f"  export WARDEN_APPROVALS_URL={url} WARDEN_APPROVER_TOKEN={token}\n"
        "  .venv/bin/warden approvals list\n"
        "  .venv/bin/warden approvals approve CALL_ID --rationale \"checked the order\"   # or: reject")


def _summary(settings: WardenSettings, prefix: str, elapsed: float, events_file: Path, platform: Platform,
             costs: CostCheck, simulated: list[Any], approver: Approver, rollout_ids: dict[str, str],
             stays_up: bool) -> None:
    where = f"run_id LIKE '{prefix}-%'"
    first, last = simulated[0].occurred_at, simulated[-1].occurred_at
    span = (f"last_seen >= toDateTime64('{first:%Y-%m-%d %H:%M:%S}', 3, 'UTC') "
            f"AND last_seen <= toDateTime64('{last + timedelta(minutes=10):%Y-%m-%d %H:%M:%S}', 3, 'UTC')")
    this = f"this demo: runs {prefix}-*"
    say("")
    show(*query(settings, (
        "SELECT tenant_id, workflow, uniqExact(run_id) AS runs, count() AS events, "
        "countIf(event_type = 'tool_call_requested') AS tool_calls, "
        "countIf(event_type = 'tool_call_completed' AND status = 'error') AS tool_errors, "
        "round(sumIf(cost_usd, cost_usd IS NOT NULL), 2) AS reported_usd, sum(redactions) AS redactions "
        f"FROM warden.agent_events WHERE {where} GROUP BY tenant_id, workflow ORDER BY tenant_id, workflow")),
        f"Events read back from ClickHouse (warden.agent_events; {this})")
    _rollouts_summary(settings, prefix, platform, rollout_ids, platform.start)
    columns, rows = query(settings, (
        "SELECT error_kind, reason, count() AS n FROM warden.dead_letters "
        f"WHERE source_key LIKE '{prefix}-bad-%' GROUP BY error_kind, reason ORDER BY error_kind, reason"))
    show(columns, rows, f"Dead letters (warden.dead_letters; this demo: keys {prefix}-bad-*)")
    show(*query(settings, (
        "SELECT decision, arrayStringConcat(policy_ids, ', ') AS policies, countIf(stop_ship) AS stop_ship, "
        f"count() AS calls FROM warden.policy_decisions WHERE {where} GROUP BY decision, policies "
        "ORDER BY calls DESC, decision, policies LIMIT 12")), f"Policy decisions (warden.policy_decisions; {this})")
    _switches_summary(settings, prefix, platform)
    show(*query(settings, (
        "SELECT workflow, count() AS calls, countIf(route_to_human) AS routed_to_human, "
        "round(100 * routed_to_human / calls, 1) AS routed_pct, "
        "countIf(reason LIKE '%not routed: policy%') AS top_share_left_to_policy, round(avg(score), 3) AS avg_score, "
        "round(quantile(0.95)(score), 3) AS p95_score FROM (SELECT * FROM warden.risk_scores "
        f"WHERE {where} AND subject = 'tool_call' ORDER BY event_id LIMIT 1 BY event_id) "
        "GROUP BY workflow ORDER BY workflow")), f"Risk scores of tool calls (warden.risk_scores; {this})")
    _, rows = query(settings, (
        "SELECT run_id, workflow, score, reason FROM warden.risk_scores "
        f"WHERE {where} AND subject = 'run' ORDER BY score DESC, run_id LIMIT 1"))
    for run_id, workflow, score, reason in rows:
        say(f"riskiest run of this demo: {run_id} ({workflow}) scored {score:.3f}: {reason}")
    show(*query(settings, per_task_sql(settings.clickhouse_database)),
         "Cost per task (warden.cost_rollups; whole ledger: .venv/bin/warden cost summary)")
    _economics_summary(settings, platform)
    if costs.problems:
        say(f"[red]stream and SQL cost totals still differ[/] for {len(costs.problems)} keys (whole ledger; "
            ".venv/bin/warden cost check)")
    else:
        say(f"[green]cost stream = SQL over raw events[/] (whole ledger): ${costs.sql_usd:,.2f} on {costs.keys} "
            f"tenant/workflow/model/route keys; {costs.unpriced_calls} calls of a model missing from the price "
            "table counted as unpriced, not as $0")
    _, rows = query(settings, (
        "SELECT severity, rule, summary FROM warden.alerts WHERE rule IN ('budget_soft', 'budget_hard') "
        f"AND {span} ORDER BY last_seen, summary"))
    for severity, rule, summary in rows:
        say(f"[yellow]budget {severity}[/] ({rule}, in this demo's event time): {summary}")
    show(*query(settings, (
        "SELECT approver, toString(decision) AS decision, count() AS calls FROM warden.approvals "
        f"WHERE {where} OR run_id IN ({_quoted_list(['rollout:' + i for i in rollout_ids.values()])}) "
        "GROUP BY approver, decision ORDER BY approver, decision")),
        f"Approvals (warden.approvals; {this} and its rollouts' promotions)")
    tally = approver.tally
    held = f"; one ({tally.held}) left pending for you" if tally.held else ""
    say(f"  {APPROVER} approved {tally.approved} and rejected {tally.rejected} requests, each with its "
        f"rationale (refunds over $500 and owner grants rejected){held}")
    _alerts_summary(settings, where, span, this)
    seen = platform.seen
    say(f"In these runs for the later processors to catch: {seen.refunds_over_100} refunds over $100, "
        f"{seen.exports_over_1000} export over 1,000 rows, {seen.deletes} delete and {seen.out_of_inventory} "
        f"out-of-inventory tool (the incident), {seen.runaway_runs} runaway loops, {seen.tool_failures} tool "
        f"failures, {seen.cost_spike_calls} cost-spike LLM calls.")
    say(f"\nLanded in {elapsed:.1f} s. The ledger lives at [bold]{settings.ledger_url}[/].")
    for line in next_steps(where, events_file, stays_up):
        say(line)


def next_steps(where: str, events_file: Path, stays_up: bool) -> list[str]:
    """What to run next, each where it works: `warden query` goes through a running stack, but `warden ledger
    verify` opens the chDB files itself (and records its result there), which chDB allows one process at a
    time, so with the stack kept up it comes after Ctrl-C. Without --keep-running the stack stops as the
    demo ends, before anyone can type it."""
    lines = ["Query it (read-only) with, for example:",
             f'  .venv/bin/warden query "SELECT event_type, count() FROM warden.agent_events WHERE {where} '
             'GROUP BY event_type"']
    if stays_up:
        lines += ["Once you have stopped the stack (Ctrl-C here), verify every hash chain (verify opens the ledger's "
                  "files itself, and chDB lets one process at a time hold them, so it refuses while the stack "
                  "runs):", "  .venv/bin/warden ledger verify"]
    else:
        lines += ["Verify every hash chain:", "  .venv/bin/warden ledger verify"]
    lines += ["Replay the same events offline:", f"  .venv/bin/warden replay {events_file} --out replay-out"]
    return lines


def _quoted_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values) or "''"


def _economics_summary(settings: WardenSettings, platform: Platform) -> None:
    """Routes and the cache, as the spend dashboard's panels read them (warden.demo.economics made them)."""
    show(*query(settings, (
        "SELECT workflow, if(route = '', '(no route)', route) AS route, sum(runs_completed) AS runs, "
        "round(sum(runs_succeeded) / nullIf(sum(runs_completed), 0), 3) AS success_rate, "
        "round(sum(run_cost_usd) / nullIf(sum(runs_succeeded), 0), 4) AS usd_per_success, "
        "sum(runs_escalated) AS escalated FROM warden.cost_rollups WHERE `window` = '1m' AND model = '' "
        "GROUP BY workflow, route ORDER BY workflow, route")),
        "Runs per route (warden.cost_rollups; whole ledger: .venv/bin/warden cost routes)")
    seen, stats = platform.economics.seen, platform.economics.cache.stats
    routed = ", ".join(f"{w} {r} {n}" for (w, r), n in sorted(seen.routed.items()))
    say(f"  routing (policies/routing.toml): {routed}; {seen.escalations} escalations on low confidence. "
        f"Cache (triage tickets asked before): {stats['hit']} hits, {stats['misses']} misses, "
        f"{stats['stored']} answers stored, {stats['refused']} refused")
    show(*query(settings, (
        "SELECT workflow, sum(calls) AS llm_calls, sum(cache_hits) AS hits, sum(saved_tokens) AS tokens_saved, "
        "round(sum(saved_usd), 4) AS usd_saved FROM warden.cost_rollups WHERE `window` = '1m' AND model != '' "
        "GROUP BY workflow ORDER BY workflow")), "Cache hits and savings (warden.cost_rollups; whole ledger)")


def _rollouts_summary(settings: WardenSettings, prefix: str, platform: Platform, rollout_ids: dict[str, str],
                      start: datetime) -> None:
    if not rollout_ids:
        return
    ids = _quoted_list(list(rollout_ids.values()))
    show(*query(settings, (
        "SELECT workflow, coalesce(release, 'v3') AS release, uniqExact(run_id) AS runs FROM warden.agent_events "
        f"WHERE run_id LIKE '{prefix}-%' AND event_type = 'run_started' AND workflow IN "
        f"({_quoted_list(sorted(rollout_ids))}) GROUP BY workflow, release ORDER BY workflow, release")),
        f"Releases the agents ran, as release_for assigned them (warden.agent_events; this demo: runs {prefix}-*)")
    columns, rows = query(settings, (
        f"SELECT workflow, dateDiff('minute', toDateTime64('{start:%Y-%m-%d %H:%M:%S}', 3, 'UTC'), decided_at) AS m, "
        "step, decision, next_step AS then_at, "
        "candidate_completed AS candidate_runs, baseline_completed AS baseline_runs, "
        "coalesce(actor, '') AS actor, reason FROM warden.rollout_decisions "
        f"WHERE rollout_id IN ({ids}) AND decision != 'hold' OR (rollout_id IN ({ids}) AND decision = 'hold' "
        "AND status = 'awaiting_approval') ORDER BY workflow, decided_at, decision"))
    offset = [[r[0], f"+{int(r[1]) // 60}:{int(r[1]) % 60:02d}", *r[2:]] for r in rows]
    show(["workflow", "event time", *columns[2:]], offset,
         "Rollouts: the controller's decisions (warden.rollout_decisions; this demo's two rollouts)")
    _, holds = query(settings, (
        "SELECT workflow, count() FROM warden.rollout_decisions "
        f"WHERE rollout_id IN ({ids}) AND decision = 'hold' GROUP BY workflow ORDER BY workflow"))
    for workflow, n in holds:
        say(f"  {workflow}: {n} hold decisions besides (too few runs yet, or waiting for approval): "
            f".venv/bin/warden query \"SELECT decided_at, step, reason FROM warden.rollout_decisions WHERE "
            f"workflow = '{workflow}' ORDER BY decided_at\"")
    _, pages = query(settings, (
        "SELECT rule, labels['gate'] AS gate, summary FROM warden.alerts "
        f"WHERE rule LIKE 'rollout%' AND labels['rollout_id'] IN ({ids}) ORDER BY first_seen"))
    for rule, gate, summary in pages:
        say(f"[red]page[/] {rule} (gate {gate}): {summary}")
    fallbacks = platform.seen.fallbacks
    for (workflow, fallback), n in sorted(fallbacks.items()):
        say(f"  {n} {workflow} runs went to the fallback ({fallback}) while the kill switch was on "
            "(release_for said so)")


def _switches_summary(settings: WardenSettings, prefix: str, platform: Platform) -> None:
    columns, rows = query(settings, (
        "SELECT scope, if(active, 'set', 'cleared') AS change, actor, reason FROM warden.control_changes "
        f"WHERE reason LIKE '%{prefix}-%' AND scope NOT LIKE 'tool:rollout:%' ORDER BY at, active DESC"))
    show(columns, rows, "Kill switches (warden.control_changes; this demo: changes naming its runs)")


def _alerts_summary(settings: WardenSettings, where: str, span: str, scope: str) -> None:
    """What on-call would have been told: the anomaly-alerter's pages and tickets, grouped by fingerprint.
    The alerter releases the last records once every partition is idle, so its count settles a moment
    after the events have landed."""
    sql = ("SELECT kind, rule, any(severity) AS severity, uniqExact(alert_id) AS alerts, "
           "countIf(status = 'resolved') AS resolved, max(count) AS largest_count FROM warden.alerts "
           f"WHERE ({where} OR (run_id IS NULL AND {span})) "
           "AND kind IN ('unauthorized_action', 'repeated_tool_failures', 'runaway_steps', 'cost_spike', "
           "'success_rate_drop', 'policy_block_spike') AND rule NOT IN ('cost_regression') "
           "AND rule NOT LIKE 'rollout%' GROUP BY kind, rule ORDER BY severity, kind, rule")
    deadline, previous = time.monotonic() + 15, None
    with console.status("waiting for the anomaly-alerter's last alerts to land..."):
        while True:
            columns, rows = query(settings, sql)
            if (rows and rows == previous) or time.monotonic() > deadline:
                break
            previous = rows
            time.sleep(1.0)
    show(columns, rows, f"Alerts for on-call (warden.alerts; {scope}, and alerts about no one run in its event "
                        "time; receivers: see README 'On-call')")

