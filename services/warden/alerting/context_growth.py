"""Context growth: a run whose input tokens per llm_call keep growing with its steps (transcript stuffing).

An agent that sends the whole transcript to every call pays for each earlier step again at every later
one: input tokens grow linearly with the step, so a run's spend grows with the square of its length.
Per run, over its llm_calls (cache hits excluded: no model read them), the rule keeps the least-squares
slope of input tokens against the step number, in integers (exact, so live and replay agree to the
token). A ticket fires once the run's last `context_growth_min_calls` calls each read more input than
the one before (it keeps growing), the slope over the whole run is at least the workflow's
`context_growth_tokens_per_step`, and the last call's input is at least `context_growth_min_ratio` times
the first's. It names the run and the growth; each further growing call counts on the same ticket, which
resolves after `quiet_resolve_s` without one.
The kind is `cost_spike` with rule `context_growth`: a new AlertKind symbol would break every reader of
the alerts topic from before (ADR 0010's finding for ControlKind holds for any Avro enum).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from warden.alerting.book import AlertBook
from warden.alerting.config import AlertRules
from warden.core.events import AgentEvent, LlmCall, RunCompleted
from warden.core.records import Alert, AlertKind, Severity

RULE = "context_growth"
RUN_CAPACITY = 100_000  # runs followed at once; the oldest is forgotten past it


@dataclass
class RunContext:
    n: int = 0
    sx: int = 0  # sums over the run's calls of step, input tokens, step squared, step times input tokens
    sy: int = 0
    sxx: int = 0
    sxy: int = 0
    first_step: int = 0
    first_tokens: int = 0
    last_step: int = 0
    last_tokens: int = 0
    streak: int = 0  # calls in a row, ending with the last, each reading more input than the one before

    def add(self, step: int, tokens: int) -> None:
        if self.n == 0:
            self.first_step, self.first_tokens = step, tokens
        self.streak = self.streak + 1 if self.n and tokens > self.last_tokens else 1
        self.n += 1
        self.sx, self.sy, self.sxx, self.sxy = self.sx + step, self.sy + tokens, self.sxx + step * step, \
            self.sxy + step * tokens
        self.last_step, self.last_tokens = step, tokens

    def slope(self) -> float | None:
        """Input tokens per step (least squares); None while every call is at one step."""
        spread = self.n * self.sxx - self.sx * self.sx
        return (self.n * self.sxy - self.sx * self.sy) / spread if spread else None


@dataclass
class ContextState:
    capacity: int = RUN_CAPACITY
    runs: OrderedDict[str, RunContext] = field(default_factory=OrderedDict)


def context_growth(state: ContextState, book: AlertBook, rules: AlertRules, event: AgentEvent) -> list[Alert]:
    body = event.body
    if isinstance(body, RunCompleted):
        state.runs.pop(event.run_id, None)
        return []
    if not isinstance(body, LlmCall) or body.cache_hit or body.is_decision:  # neither called a model
        return []
    run = state.runs.get(event.run_id)
    if run is None:
        run = state.runs[event.run_id] = RunContext()
        while len(state.runs) > state.capacity:
            state.runs.popitem(last=False)
    run.add(event.step, body.input_tokens)
    limit = rules.for_workflow(event.workflow)
    slope = run.slope()
    if (run.streak < limit.context_growth_min_calls or slope is None
            or slope < limit.context_growth_tokens_per_step
            or run.last_tokens < limit.context_growth_min_ratio * max(run.first_tokens, 1)):
        return []
    ratio = run.last_tokens / max(run.first_tokens, 1)
    alert = book.observe(
        kind=AlertKind.COST_SPIKE, severity=Severity.TICKET, rule=RULE, tenant_id=event.tenant_id,
        workflow=event.workflow, subject=event.run_id, at=event.occurred_at, run_id=event.run_id,
        value=round(slope, 1), threshold=float(limit.context_growth_tokens_per_step),
        summary=(f"run {event.run_id} of {event.workflow} (tenant {event.tenant_id}): input tokens per llm_call grew "
                 f"from {run.first_tokens:,} at step {run.first_step} to {run.last_tokens:,} at step {run.last_step} "
                 f"({ratio:.1f}x, +{slope:,.0f} tokens per step over {run.n} calls), past the workflow's "
                 f"{limit.context_growth_tokens_per_step:,.0f} per step: the transcript is sent whole to every call; "
                 "retrieve what the step needs and summarise the rest"),
        labels={"agent_id": event.agent_id, "calls": str(run.n), "growing_calls": str(run.streak),
                "first_input_tokens": str(run.first_tokens),
                "last_input_tokens": str(run.last_tokens), "first_step": str(run.first_step),
                "last_step": str(run.last_step), "growth_ratio": f"{ratio:.2f}",
                "tokens_per_step": f"{slope:.1f}"},
        quiet_resolve_s=limit.quiet_resolve_s)
    return [alert] if alert is not None else []
