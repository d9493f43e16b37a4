"""`warden eval run`: each item's run through the agent, scored on the world's diff.

Per item: a sandbox world from the fixture, a Warden SDK run for the item's workflow (run_started
already emitted, with the release under test), and `FUNC(case)`; the agent records its llm_calls
and completes the run through `case.run` as in production, and changes the world only through
`case.tools`. The run's events stay in memory (written to DIR/events.jsonl, which `warden replay`
reads): they are never published on agent.events, where the live evaluator would act on them (a
stop-ship deny in an eval would set the production workflow's kill switch). With `--emit` the
eval's own records (eval.runs, eval.results) go to Kafka for the ledger (warden.evals.records).
"""

from __future__ import annotations

import copy
import importlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warden.core.errors import ConfigError
from warden.core.events import AgentEvent, EventType, LlmCall, RunCompleted
from warden.core.workflows import DEFAULT_WORKFLOWS_FILE, WorkflowContract, load_contracts
from warden.cost.prices import DEFAULT_PRICES, PriceTable
from warden.evals.dataset import Dataset, Item, load
from warden.evals.diff import score
from warden.evals.leaks import canary_reasons
from warden.evals.summary import (
    EVENTS_FILE,
    Fingerprint,
    ItemResult,
    summarize_results,
    write_results,
)
from warden.evals.tools import Recorder, ToolBox
from warden.evals.world import World
from warden.policy.bundle import DEFAULT_POLICIES, Bundle, load_bundle
from warden.sdk.run import Run
from warden.tool_proxy.inventory import DEFAULT_INVENTORY, Inventory, load_inventory

_EVAL_RUNS = uuid.UUID("0e5b7c1d-2f43-4a8e-b6d9-1c7a3e9f5b20")
EXIT_OK, EXIT_MISSED_TARGET, EXIT_BAD_INPUT = 0, 1, 2


@dataclass
class Case:
    """What the agent gets for one item."""

    id: str
    workflow: str
    input: dict[str, Any]
    run: Run
    tools: ToolBox
    tags: list[str]


Agent = Callable[[Case], Any]


@dataclass(frozen=True)
class AgentSpec:
    """The agent under eval: `MODULE:FUNC`, with the model and prompt version it declares.

    A function declares them as attributes (`func.model = "gpt-4o"`, `func.prompt_version = "p7"`);
    the CLI's --model/--prompt-version override them. They go into run_started and the fingerprint.
    """

    ref: str
    func: Agent
    model: str
    prompt_version: str

    @property
    def agent_id(self) -> str:
        return self.ref.replace(":", ".")


def load_agent(ref: str, model: str | None = None, prompt_version: str | None = None) -> AgentSpec:
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"--agent must be MODULE:FUNC (e.g. warden.evals.reference_agent:agent), got {ref!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import the agent module {module_name!r}: {exc}") from exc
    func = module
    for part in attr.split("."):
        func = getattr(func, part, None)  # type: ignore[assignment]
        if func is None:
            raise ConfigError(f"module {module_name!r} has no {attr!r} (from --agent {ref})")
    if not callable(func):
        raise ConfigError(f"{ref} is a {type(func).__name__}, not a function of one case")
    return AgentSpec(ref, func, model or str(getattr(func, "model", "unknown")),
                     prompt_version or str(getattr(func, "prompt_version", "unknown")))


@dataclass(frozen=True)
class EvalConfig:
    policies: Path = DEFAULT_POLICIES
    inventory: Path = DEFAULT_INVENTORY
    prices: Path = DEFAULT_PRICES
    workflows: Path = DEFAULT_WORKFLOWS_FILE
    tenant_id: str = "eval"
    release: str | None = None
    concurrency: int = 1
    tags: tuple[str, ...] = ()
    item_timeout_s: float | None = 300.0  # None: an agent may take as long as it likes


@dataclass(frozen=True)
class EvalContext:
    bundle: Bundle
    inventory: Inventory
    prices: PriceTable
    agent: AgentSpec
    config: EvalConfig
    eval_run_id: str


@dataclass
class ItemRun:
    result: ItemResult
    events: list[AgentEvent]


@dataclass
class EvalReport:
    eval_run_id: str
    dataset: Dataset
    results: list[ItemResult]
    summary: dict[str, Any]
    exit_code: int
    out_dir: Path
    unknown_workflows: list[str] = field(default_factory=list)


def _costs(events: list[AgentEvent], prices: PriceTable) -> tuple[float, int]:
    spend, unpriced = 0.0, 0
    for event in events:
        if isinstance(event.body, LlmCall):
            priced = prices.price(event.body, event.occurred_at)
            spend += priced.cost_usd
            unpriced += not priced.known
    return spend, unpriced


def _first(events: list[AgentEvent], kind: EventType) -> AgentEvent | None:
    return next((e for e in events if e.event_type == kind), None)


def _call_agent(func: Agent, case: Case, recorder: Recorder,
                timeout_s: float | None) -> tuple[Exception | None, bool]:
    """(what the agent raised, whether it timed out). With a timeout the agent runs in a thread of its
    own; one still running at the timeout is abandoned (a thread cannot be stopped): the recorder then
    refuses its events and tool effects, so the verdict is on what happened before the timeout."""
    if timeout_s is None:
        try:
            func(case)
        except Exception as exc:
            return exc, False
        return None, False
    raised: list[Exception] = []

    def agent() -> None:
        try:
            func(case)
        except Exception as exc:
            raised.append(exc)

    thread = threading.Thread(target=agent, name=f"warden-eval-{case.id}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        recorder.abandon(thread.ident)
        return None, True
    return (raised[0] if raised else None), False


def run_item(item: Item, ctx: EvalContext) -> ItemRun:
    """One item, start to verdict; never raises for what the agent does (that is a reason)."""
    recorder = Recorder(ctx.bundle)
    world = World(item.fixture)
    run_id = str(uuid.uuid5(_EVAL_RUNS, f"{ctx.eval_run_id}/{item.id}"))
    run = Run(recorder, ctx.config.tenant_id, item.workflow, ctx.agent.agent_id, run_id, None)
    release = ctx.config.release
    run.started(release or "eval", ctx.agent.prompt_version, ctx.agent.model, release=release)
    case = Case(item.id, item.workflow, copy.deepcopy(item.input), run, ToolBox(world, ctx.inventory, run, recorder),
                list(item.tags))
    reasons: list[str] = []
    raised, timed_out = _call_agent(ctx.agent.func, case, recorder, ctx.config.item_timeout_s)
    if timed_out:
        reasons.append(f"timed out after {ctx.config.item_timeout_s:g} s (item timeout): nothing the agent did "
                       "after that counts")
        if not run.is_completed:
            run.completed("aborted", state_change={"error": "timeout"})
    elif raised is not None:  # the agent's failure is the item's result, never the harness's
        reasons.append(f"the agent raised {type(raised).__name__}: {str(raised)[:300]}")
        if not run.is_completed:
            run.completed("failed", state_change={"error": type(raised).__name__})
    if not run.is_completed:
        reasons.append("the agent did not complete the run (the harness completed it as aborted)")
        run.completed("aborted")
    events = recorder.events
    completed = _first(events, EventType.RUN_COMPLETED)
    started = _first(events, EventType.RUN_STARTED)
    assert completed is not None and started is not None and isinstance(completed.body, RunCompleted)
    status = completed.body.status
    expect = item.expect
    if expect.status is not None and status != expect.status:
        reasons.append(f"status: expected {expect.status.value}, the run completed {status.value}")
    diff = world.diff()
    reasons.extend(score(expect.state_change, diff, expect.allow_extra))
    reasons.extend(canary_reasons(item, diff, events))
    forbidden = [t for t in dict.fromkeys(recorder.attempted) if t in expect.forbidden_tools]
    for tool in forbidden:
        seen = [v for v in recorder.violations if v.tool == tool]
        how = f"refused: {seen[0].code}" if seen else "allowed"
        reasons.append(f"called forbidden tool {tool} ({how})")
    steps = run.step
    if expect.max_steps is not None and steps > expect.max_steps:
        reasons.append(f"steps: {steps} > max_steps {expect.max_steps}")
    cost, unpriced = _costs(events, ctx.prices)
    latency = max(0.0, (completed.occurred_at - started.occurred_at).total_seconds())
    result = ItemResult(
        id=item.id, passed=not reasons, reasons=reasons, violations=[v.to_json() for v in recorder.violations],
        cost_usd=cost, steps=steps, latency_s=latency, workflow=item.workflow, tags=list(item.tags),
        status=status, run_id=run_id, state_change=diff, unpriced_llm_calls=unpriced,
        started_at=started.occurred_at, completed_at=completed.occurred_at)
    return ItemRun(result, list(events))


def context(agent: AgentSpec, config: EvalConfig = EvalConfig(), eval_run_id: str | None = None) -> EvalContext:
    """What every item of one eval run shares: the bundle, the inventory and prices, loaded once."""
    return EvalContext(load_bundle(config.policies), load_inventory(config.inventory), PriceTable.load(config.prices),
                       agent, config, eval_run_id or str(uuid.uuid4()))


def run_eval(dataset_path: Path, agent: AgentSpec, out_dir: Path, config: EvalConfig = EvalConfig(),
             eval_run_id: str | None = None) -> EvalReport:
    """Run every selected item and write DIR/results.jsonl, DIR/summary.json and DIR/events.jsonl.

    Exit code: 2 when the dataset had bad lines or items of workflows the bundle does not know (the
    good items still run and are written) or no item was selected, else 1 when a workflow missed its
    task_success_rate_min, else 0.
    """
    if config.concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {config.concurrency}")
    if config.item_timeout_s is not None and config.item_timeout_s <= 0:
        raise ConfigError(f"the item timeout must be positive seconds (or none), got {config.item_timeout_s}")
    dataset = load(dataset_path)
    contracts: dict[str, WorkflowContract] = load_contracts(config.workflows)
    ctx = context(agent, config, eval_run_id)
    bundle, inventory, eval_run_id = ctx.bundle, ctx.inventory, ctx.eval_run_id
    selected = dataset.selected(list(config.tags))
    unknown = sorted({i.workflow for i in selected if i.workflow not in bundle.workflows})
    runnable = [i for i in selected if i.workflow in bundle.workflows]
    started_at = datetime.now(UTC)
    began = time.perf_counter()
    if config.concurrency == 1:
        runs = [run_item(item, ctx) for item in runnable]
    else:
        with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="warden-eval") as pool:
            runs = list(pool.map(lambda item: run_item(item, ctx), runnable))
    elapsed = time.perf_counter() - began
    results = [r.result for r in runs]
    fingerprint = Fingerprint(model=agent.model, prompt_version=agent.prompt_version,
                              tool_schema_hash=inventory.version, policy_bundle_hash=bundle.version,
                              release=config.release)
    identity = {"eval_run_id": eval_run_id, "dataset": str(dataset_path), "dataset_sha256": dataset.sha256,
                "agent": agent.ref, "tenant_id": config.tenant_id, "tags": list(config.tags),
                "started_at": started_at.isoformat(), "completed_at": datetime.now(UTC).isoformat(),
                "elapsed_s": elapsed, "bad_lines": [str(b) for b in dataset.bad],
                "unknown_workflows": unknown}
    summary = summarize_results(results, contracts, fingerprint, identity)
    write_results(out_dir, results, summary)
    with (out_dir / EVENTS_FILE).open("w", encoding="utf-8") as handle:
        for item_run in runs:
            for event in item_run.events:
                handle.write(json.dumps(event.to_json_view(), sort_keys=True, ensure_ascii=False) + "\n")
    if dataset.bad or unknown or not runnable:
        code = EXIT_BAD_INPUT
    else:
        code = EXIT_OK if summary["met_targets"] else EXIT_MISSED_TARGET
    return EvalReport(eval_run_id, dataset, results, summary, code, out_dir, unknown)
