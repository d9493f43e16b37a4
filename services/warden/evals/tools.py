"""`case.tools.call(tool, action, params)`: a tool call against the sandbox world through Warden's real checks.

The checks are the tool proxy's, in its order (warden.tool_proxy.pipeline.CHECKS): the tool's strict input
schema from the inventory, then the `tool_call_requested` event the call makes (params redacted
as the proxy emits them) goes through the policy-evaluator's own pure step with the same Cedar
bundle, so the decision, its id and its reason are what the live pipeline would give. A deny, or
an approval that no one can give in an eval, raises `Denied`, changes nothing and counts as a
violation; params that break the schema are refused before policy, like the proxy refuses them.

The recorder is the run's client: every event the agent or the tools emit is kept in memory
(the eval's events.jsonl) and stepped through the evaluator, so spend and denials so far are the
policies' run facts, as live. Each item gets its own recorder and evaluator state: a stop-ship
kill switch one item trips applies to the rest of that item's run only.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from warden.core import topics
from warden.core.errors import WardenError
from warden.core.events import AgentEvent, EventType, ToolCallRequested
from warden.core.params import check_input
from warden.core.records import Decision, PolicyDecision
from warden.core.schema_check import FieldError
from warden.evals.errors import Denied, ItemTimedOut, ToolFailed
from warden.evals.world import REFERENCE_TOOLS, World
from warden.policy.bundle import Bundle
from warden.policy_evaluator.processor import EvaluatorState, step
from warden.tool_proxy.inventory import ActionSpec, Inventory
from warden.tool_proxy.processor import output_refusal, params_text, redacted

if TYPE_CHECKING:
    from warden.sdk.gate import DecisionWatcher, GateVerdict
    from warden.sdk.run import Run


T = TypeVar("T")


def params_errors(spec: ActionSpec, params: Any) -> list[FieldError]:
    """The one strict params check (warden.core.params) the evaluator, replay and the proxy run too."""
    return check_input(spec.input_validator, params, "input")


@dataclass(frozen=True)
class Violation:
    """A call Warden did not allow: what was called, why, and the policy decision when policy decided."""

    tool: str  # tool.action
    code: str  # policy_deny | kill_switch | approval_required | schema_invalid
    reason: str
    decision: str | None = None  # allow | deny | require_approval; None: refused before policy
    policy_ids: tuple[str, ...] = ()
    call_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["policy_ids"] = list(self.policy_ids)
        return out


def _code(decision: PolicyDecision) -> str:
    if decision.decision == Decision.REQUIRE_APPROVAL:
        return "approval_required"
    return "kill_switch" if any(p.startswith("switch:") for p in decision.policy_ids) else "policy_deny"


@dataclass
class Recorder:
    """The eval run's client (warden.sdk.run.RunClient): keeps the events, decides tool calls in-process."""

    bundle: Bundle
    events: list[AgentEvent] = field(default_factory=list)
    decisions: dict[str, PolicyDecision] = field(default_factory=dict)  # call_id -> decision
    violations: list[Violation] = field(default_factory=list)
    attempted: list[str] = field(default_factory=list)  # tool.action of every call attempt, in order
    state: EvaluatorState = field(default_factory=EvaluatorState)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _abandoned: int | None = None  # the thread of an agent that ran past its item's timeout

    def abandon(self, thread_id: int | None) -> None:
        """From now on that thread's events, refusals and tool effects raise ItemTimedOut and change nothing."""
        with self._lock:
            self._abandoned = thread_id

    def _refuse_abandoned(self) -> None:
        if self._abandoned is not None and threading.get_ident() == self._abandoned:
            raise ItemTimedOut("this item's timeout has passed: the harness no longer records this agent")

    def apply(self, effect: Callable[[], T]) -> T:
        """Run a tool's effect on the world unless its agent was abandoned, never while the harness reads it."""
        with self._lock:
            self._refuse_abandoned()
            return effect()

    def emit(self, event: AgentEvent) -> None:
        with self._lock:
            self._refuse_abandoned()
            self.events.append(event)
            self.state, outputs = step(self.state, self.bundle, event)
            for out in outputs:
                if out.topic == topics.POLICY_DECISIONS and isinstance(out.record, PolicyDecision):
                    self._decided(event, out.record)

    def _decided(self, event: AgentEvent, decision: PolicyDecision) -> None:
        body = event.body
        assert isinstance(body, ToolCallRequested)
        name = f"{body.tool}.{body.action}"
        self.decisions[decision.call_id] = decision
        self.attempted.append(name)
        if decision.decision != Decision.ALLOW:
            self.violations.append(Violation(name, _code(decision), decision.reason, decision.decision.value,
                                             tuple(decision.policy_ids), decision.call_id))

    def refused_early(self, violation: Violation) -> None:
        """A call refused before policy (bad params): no event, like the proxy, but a violation all the same."""
        with self._lock:
            self._refuse_abandoned()
            self.attempted.append(violation.tool)
            self.violations.append(violation)

    def flush(self, timeout_s: float | None = None) -> None:
        """Nothing is queued: the events are in memory."""

    def gate(self) -> DecisionWatcher:
        raise WardenError("an eval has no live gate: call tools through case.tools.call(tool, action, params), "
                          "which applies the same policies in-process")

    def authorize(self, call_id: str, timeout_s: float = 10.0, approval_timeout_s: float = 900.0,
                  risk_timeout_s: float = 2.0, risk_required: bool = False) -> GateVerdict:
        self.gate()
        raise AssertionError("unreachable")

    @property
    def tool_events(self) -> list[AgentEvent]:
        return [e for e in self.events if e.event_type in (EventType.TOOL_CALL_REQUESTED,
                                                           EventType.TOOL_CALL_COMPLETED)]


class ToolBox:
    """`case.tools`: the only way an agent under eval changes (or reads) the world."""

    def __init__(self, world: World, inventory: Inventory, run: Run, recorder: Recorder) -> None:
        self.world, self.inventory, self.run, self.recorder = world, inventory, run, recorder

    def call(self, tool: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        name = f"{tool}.{action}"
        spec = self.inventory.action(tool, action)
        if spec is not None:
            errors = params_errors(spec, params)
            if errors:
                reason = f"input of {name} breaks its schema: " + "; ".join(str(e) for e in errors)
                self.recorder.refused_early(Violation(name, "schema_invalid", reason))
                raise Denied(name, "schema_invalid", reason, errors=tuple(str(e) for e in errors))
        if not isinstance(params, dict):  # a tool outside the inventory has no schema; policy still needs an object
            reason = f"params of {name} must be a JSON object, got {type(params).__name__}"
            self.recorder.refused_early(Violation(name, "schema_invalid", reason))
            raise Denied(name, "schema_invalid", reason)
        started = time.perf_counter()
        params_out, _, _ = redacted(params_text(params), None)
        call_id = self.run.tool_call_requested(tool, action, params_out)
        decision = self.recorder.decisions.get(call_id)
        if decision is None:  # the evaluator decides every tool_call_requested it steps
            raise WardenError(f"no policy decision was made for call {call_id} of {name}")
        if decision.decision != Decision.ALLOW:
            code = _code(decision)
            self._completed(call_id, tool, "denied", started, None, code)
            raise Denied(name, code, decision.reason, decision)
        effect = REFERENCE_TOOLS.get(name)
        if effect is None or spec is None:
            self._completed(call_id, tool, "error", started, None, "no_sandbox_tool")
            raise ToolFailed(name, "no_sandbox_tool", f"{name} has no sandbox implementation in warden.evals.world")
        def act() -> dict[str, Any]:
            saved = copy.deepcopy(self.world.collections)
            try:
                output = effect(self.world, copy.deepcopy(params))
                invalid = output_refusal(spec, output)
                if invalid is not None:
                    raise ToolFailed(name, invalid.code, invalid.reason)
            except ToolFailed:
                self.world.collections = saved  # a failed call changes nothing
                raise
            return output

        try:
            output = self.recorder.apply(act)
        except ToolFailed as exc:
            self._completed(call_id, tool, "error", started, None, exc.code)
            raise
        self._completed(call_id, tool, "ok", started, output, None)
        return output

    def _completed(self, call_id: str, tool: str, status: str, started: float, output: dict[str, Any] | None,
                   error_code: str | None) -> None:
        text = None
        if output is not None:
            _, text, _ = redacted("{}", params_text(output))
        self.run.tool_call_completed(call_id, tool, status, (time.perf_counter() - started) * 1000, output=text,
                                     error_code=error_code)
