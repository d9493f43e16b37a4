"""Offline replay (DESIGN.md): same processor code as the live services, in file order.

Processors that exist today: contract validation, the ledger's redaction, the policy
evaluator (decisions.jsonl, with the same bundle hash, ids and reasons as live), the risk
scorer (risk.jsonl: each event goes to the partition the producers' partitioner gives its
run_id, where the same per-partition step as the live service scores it), the anomaly-alerter
(alerts.jsonl: every record the live alerter emits, from its event-time lanes) and the
cost-aggregator (costs.jsonl: rollup deltas whose sums per window and key equal live's, though
live splits them differently by partition and idle flushes; its budget alerts and per-task
ceiling flags go to alerts.jsonl too, and a hard budget's kill switch reaches the evaluator as
live), and the SDK cache's decisions (cache.jsonl: each answer offered to the cache stored or refused
with its reason, each hit; warden.cache.decide, the function the SDK stores by). With a rollout plan,
the rollout-controller's step judges the plan's candidate over the same
events, decisions and alerts (rollouts.jsonl: one gate decision a line; its rollback pages go to
alerts.jsonl); the rollout starts at the plan's start_at, else at the first event. Routing decisions
(run.route, run.escalate) are decided again with the routing file (routes.jsonl, warden.routing.replay).

An event that appears twice (a client's re-send: same event_id) goes through every processor as
live, where each counts it once; each output file then keeps one record per ledger id (events by
event_id, decisions by decision_id, ...), as the ledger lands each id once, so the files are what
the ledger would hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from warden.alerting.config import AlertRules
from warden.cache import decide as cache_decide
from warden.cache.rules import CacheRules
from warden.core import jsontext, topics
from warden.core.errors import ConfigError, ValidationError
from warden.core.events import AgentEvent, iso_millis
from warden.core.lines import BadLine
from warden.core.output import Output
from warden.core.records import (
    Alert,
    Control,
    CostRollup,
    PolicyDecision,
    RolloutAction,
    RolloutCommand,
    RolloutDecision,
)
from warden.core.seen import SeenIds
from warden.core.wire import validate
from warden.cost.budgets import DEFAULT_BUDGETS, BudgetConfig
from warden.cost.prices import DEFAULT_PRICES, PriceTable
from warden.cost.tracker import TrackerState, track
from warden.cost.windows import SpendWindows
from warden.cost_aggregator import processor as cost
from warden.ledger_rows.tables import TABLES, Table, event_row
from warden.policy.bundle import DEFAULT_POLICIES, load_bundle
from warden.policy_evaluator.processor import EvaluatorState, step
from warden.replay.alerts import AlertReplay
from warden.risk_scorer.processor import KeyedRisk, RiskConfig
from warden.rollout import controller as rollouts
from warden.rollout.event_view import AgentEventView
from warden.rollout.plan import RolloutPlan
from warden.rollout.views import decision_view
from warden.routing.policy import DEFAULT_ROUTING, load_routing
from warden.routing.replay import RouteReplay

OUTPUT_FILES = ("decisions.jsonl", "risk.jsonl", "alerts.jsonl", "costs.jsonl", "cache.jsonl", "routes.jsonl")
# The ledger table each file mirrors: its record_id is what a file keeps once.
LEDGER_TABLES: dict[str, Table] = {
    "events.jsonl": TABLES[topics.AGENT_EVENTS], "decisions.jsonl": TABLES[topics.POLICY_DECISIONS],
    "risk.jsonl": TABLES[topics.RISK_SCORES], "alerts.jsonl": TABLES[topics.ALERTS],
    "costs.jsonl": TABLES[topics.COST_ROLLUPS]}
REPLAY_DEDUPE_CAPACITY = 5_000_000  # ids remembered per file: the ledger remembers all; this bounds memory
ROLLOUTS_FILE = "rollouts.jsonl"  # with --rollout only


@dataclass
class ReplayResult:
    events: int = 0
    redactions: int = 0
    switches_set: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)  # per file: records dropped as already written
    bad: list[BadLine] = field(default_factory=list)
    outputs: dict[str, int] = field(default_factory=dict)


def read_events(lines: IO[str]) -> Iterator[tuple[int, AgentEvent | BadLine]]:
    """Each line read with the limits a record on a topic has (warden.core.limits): a hostile line is
    a named bad line, and the lines after it are still read."""
    for number, item, _ in read_event_lines(lines):
        yield number, item


def read_event_lines(lines: IO[str]) -> Iterator[tuple[int, AgentEvent | BadLine, dict[str, Any] | None]]:
    """As ``read_events``, with the line's JSON object when it parsed as one (a bad line's, for a view)."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = jsontext.loads(text, "line", "record_bytes")
        except jsontext.NotJson as exc:
            yield number, BadLine(number, f"not JSON: {str(exc).removeprefix('line is not JSON: ')}"), None
            continue
        except jsontext.JsonRefused as exc:
            yield number, BadLine(number, str(exc)), None
            continue
        if not isinstance(data, dict):
            yield number, BadLine(number, f"expected a JSON object (an AgentEvent), got {type(data).__name__}"), None
            continue
        try:
            yield number, validate(AgentEvent, data), data
        except ValidationError as exc:
            yield number, BadLine(number, str(exc)), data


def ledger_view(event: AgentEvent) -> dict[str, Any]:
    """The event as the ledger stores it: flattened, redacted, with its redaction count."""
    row = event_row(event)
    row["occurred_at"] = iso_millis(event.occurred_at)
    return {k: v for k, v in row.items() if v is not None}


def record_view(record: BaseModel) -> dict[str, Any]:
    """A record's JSON view: timestamps as ISO-8601 UTC with milliseconds, like AgentEvent's."""
    view = record.model_dump(mode="json")
    for name, value in record:
        if isinstance(value, datetime):
            view[name] = iso_millis(value)
    return view


def default_rollout_config() -> rollouts.ControllerConfig:
    """The live rollout-controller's settle time and prices, from the same settings."""
    from warden.rollout_controller.settings import RolloutControllerSettings

    return RolloutControllerSettings().controller_config()


def default_risk_config() -> RiskConfig:
    """The live risk-scorer's configuration (weights file, review share) from the same settings."""
    from warden.risk_scorer.settings import load_settings

    return load_settings().risk_config()


def replay(events_path: Path, out_dir: Path, policies: Path = DEFAULT_POLICIES, prices: Path = DEFAULT_PRICES,
           budgets: Path = DEFAULT_BUDGETS, alert_rules: AlertRules | None = None,
           alert_lateness_ms: int = 100, risk: RiskConfig | None = None,
           partitions: int = topics.PARTITIONS[topics.AGENT_EVENTS], rollout: RolloutPlan | None = None,
           rollout_config: rollouts.ControllerConfig | None = None, eval_run_id: str | None = None,
           routing: Path = DEFAULT_ROUTING) -> ReplayResult:
    """``risk`` defaults to the risk-scorer's settings (weights file, review share); ``partitions`` is the
    partition count of agent.events in the deployment the events came from (risk state is per partition).
    ``rollout``: a plan (gates already resolved against the workflow's targets) to judge; ``rollout_config``
    defaults to the rollout-controller's settings (settle time, prices). ``eval_run_id``: for a plan with
    require_eval, the passing eval the live start found (replay takes it as given: it has no ledger to ask)."""
    if rollout is not None and rollout.require_eval and not eval_run_id:
        raise ConfigError(f"the rollout plan for {rollout.workflow} requires a passing eval of {rollout.candidate} "
                          "before its first step: give the eval run's id (--eval-run), as the live start recorded it")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ReplayResult()
    bundle = load_bundle(policies)
    price_table, budget_config = PriceTable.load(prices), BudgetConfig.load(budgets)
    state = EvaluatorState()
    spend = cost.SpendState(SpendWindows("replay"))
    tracker = TrackerState()
    scorer = KeyedRisk(risk or default_risk_config(), partitions)
    # the SDK cache's decisions: the same rules files as the bundle's (workflows.toml, tools/inventory.yaml)
    cache_rules = CacheRules.load(policies / "workflows.toml", policies / "tools" / "inventory.yaml")
    cache_state, last_at = cache_decide.DeciderState(), None
    routes = RouteReplay(load_routing(routing))
    names = (*OUTPUT_FILES, "events.jsonl", *((ROLLOUTS_FILE,) if rollout else ()))
    handles = {name: open(out_dir / name, "w") for name in names}  # noqa: SIM115
    landed = {name: SeenIds(REPLAY_DEDUPE_CAPACITY) for name in handles}
    controller = rollouts.ControllerState()
    controller_config = rollout_config or default_rollout_config() if rollout else None
    rollout_started = False

    def first_time(name: str, record: BaseModel) -> bool:
        if landed[name].first_time(LEDGER_TABLES[name].record_id(record)):
            return True
        result.duplicates[name] = result.duplicates.get(name, 0) + 1
        return False

    def write(name: str, record: BaseModel) -> None:
        if first_time(name, record):
            handles[name].write(json.dumps(record_view(record)) + "\n")

    def judge(message: BaseModel) -> None:
        """The rollout-controller's step, fed what the live one reads; its outputs go where live's go."""
        nonlocal controller, state
        if controller_config is None or not rollout_started:
            return
        _, outputs = rollouts.feed(controller, controller_config, message, "replay")
        for out in outputs:
            if isinstance(out.record, RolloutDecision):
                handles[ROLLOUTS_FILE].write(json.dumps(decision_view(out.record)) + "\n")
            elif isinstance(out.record, Alert):
                write("alerts.jsonl", out.record)
            elif isinstance(out.record, Control):
                state, _ = step(state, bundle, out.record)  # the stage, as the evaluator reads it from the topic

    stepped = SeenIds(REPLAY_DEDUPE_CAPACITY)  # the controller's own memory of ids, as the live runtime's

    def judge_event(event: AgentEvent | Any) -> None:
        """As the live runtime: an event the controller passes over (rollouts.wants) is passed over before
        any dedupe, even when re-sent; one it reads is stepped once per id."""
        if controller_config is None or not rollout_started:
            return
        if rollouts.wants(controller, event.event_type.value, event.workflow, event.run_id) \
                and not stepped.first_time(event.event_id):
            return
        judge(event)

    def judge_view(data: dict[str, Any]) -> None:
        """A line the full model refuses: the live controller validates only the fields it acts on
        (ADR 0020), so one whose acted-on fields are good is stepped there, and here."""
        if controller_config is None or not rollout_started or data.get("event_type") not in rollouts.READS:
            return
        try:
            view = validate(AgentEventView, data)
        except ValidationError:
            return  # refused there too, on a field it acts on
        judge_event(view)

    def alerted(alert: Alert) -> None:
        write("alerts.jsonl", alert)
        judge(alert)

    alerter = AlertReplay(alerted, alert_rules, prices_path=prices, lateness_ms=alert_lateness_ms)

    def start_rollout(first: AgentEvent) -> None:
        nonlocal rollout_started
        if rollout is None or rollout_started:
            return
        rollout_started = True
        at = rollout.start_at or first.occurred_at
        plan = rollout.model_copy(update={"start_at": at})
        command = RolloutCommand(command_id=rollouts.new_id("replay", plan.to_json()), action=RolloutAction.START,
                                 workflow=plan.workflow, plan=plan.to_json(), rationale="warden replay --rollout",
                                 eval_run_id=eval_run_id)
        judge(rollouts.command_record(command, "warden:replay", at))

    def route(outputs: list[Output]) -> None:
        nonlocal state
        for out in outputs:
            if out.topic == topics.POLICY_DECISIONS:
                write("decisions.jsonl", out.record)
                alerter.feed(out.record)
                judge(out.record)
            elif isinstance(out.record, Control):
                result.switches_set += 1
                state, _ = step(state, bundle, out.record)  # as the live evaluator reads the control topic
            elif isinstance(out.record, CostRollup):
                write("costs.jsonl", out.record)
                route(track(tracker, budget_config, out.record))
            elif isinstance(out.record, Alert):
                write("alerts.jsonl", out.record)

    try:
        # Bytes that are not UTF-8 become lone surrogates, which the line's checks name (not a crash).
        with open(events_path, encoding="utf-8", errors="surrogateescape") as lines:
            for number, item, data in read_event_lines(lines):
                if isinstance(item, BadLine):
                    result.bad.append(item)
                    if data is not None:
                        judge_view(data)
                    continue
                if first_time("events.jsonl", item):
                    view = ledger_view(item)
                    result.events += 1
                    result.redactions += view["redactions"]
                    handles["events.jsonl"].write(json.dumps(view, sort_keys=True) + "\n")
                    start_rollout(item)
                    judge_event(item)
                    for decided in cache_decide.step(cache_state, cache_rules, item):  # the SDK observes once
                        handles["cache.jsonl"].write(json.dumps(record_view(decided)) + "\n")
                    last_at = max(last_at or item.occurred_at, item.occurred_at)
                    routed = routes.feed(item)
                    if routed is not None:
                        handles["routes.jsonl"].write(json.dumps(routed) + "\n")
                else:
                    judge_event(item)
                state, outputs = step(state, bundle, item)
                alerter.feed(item)
                route(outputs)
                risk_inputs: list[AgentEvent | PolicyDecision] = [item]
                risk_inputs += [o.record for o in outputs
                                if o.topic == topics.POLICY_DECISIONS and isinstance(o.record, PolicyDecision)]
                for message in risk_inputs:
                    for out in scorer.feed(message):
                        if out.topic == topics.RISK_SCORES:
                            write("risk.jsonl", out.record)
                spend, outputs = cost.feed(spend, price_table, budget_config, item, number)
                route(outputs)
        spend, outputs = cost.flush(spend)
        route(outputs)
        alerter.finish()
        if last_at is not None:
            for decided in cache_decide.finish(cache_state, last_at, cache_rules):
                handles["cache.jsonl"].write(json.dumps(record_view(decided)) + "\n")
    finally:
        for handle in handles.values():
            handle.close()
    result.outputs = {name: len((out_dir / name).read_text().splitlines()) for name in handles}
    return result
