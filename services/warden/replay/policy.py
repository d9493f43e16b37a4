"""For the people who change policies: unit cases, and what a bundle change does to recorded calls."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from warden.core.errors import ConfigError
from warden.core.events import AgentEvent, ToolCallRequested
from warden.core.records import PolicyDecision
from warden.policy.bundle import Bundle
from warden.policy.engine import PolicyRequest, evaluate
from warden.policy_evaluator.processor import EvaluatorState, step
from warden.replay.runner import BadLine, read_events


@dataclass(frozen=True)
class CaseResult:
    source: str
    name: str
    expected: str
    got: str
    policy_ids: tuple[str, ...]
    wanted_policy: str | None
    reason: str

    @property
    def passed(self) -> bool:
        return self.got == self.expected and (self.wanted_policy is None or self.wanted_policy in self.policy_ids)


def _params(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def run_cases(bundle: Bundle, files: list[Path]) -> list[CaseResult]:
    results = []
    for path in files:
        try:
            cases = yaml.safe_load(path.read_text()) or []
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(cases, list):
            raise ConfigError(f"{path} must hold a list of cases, found {type(cases).__name__}")
        for number, case in enumerate(cases, start=1):
            try:
                req, expected = case["request"], case["expect"]
                request = PolicyRequest(
                    tenant_id=str(req.get("tenant", "acme")), workflow=req["workflow"],
                    agent_id=str(req.get("agent", "agent-1")), tool=req["tool"], action=req["action"],
                    resource=req.get("resource"), params=_params(req.get("params", {})),
                    step=int(req.get("step", 1)), spend_usd=float(req.get("spend_usd", 0.0)),
                    denials=int(req.get("denials", 0)),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"{path} case {number}: needs request.workflow/tool/action and expect "
                                  f"({type(exc).__name__}: {exc})") from exc
            verdict = evaluate(bundle, request)
            results.append(CaseResult(path.name, str(case.get("name", f"case {number}")), str(expected),
                                      verdict.decision.value, verdict.policy_ids, case.get("policy"),
                                      verdict.reason))
    return results


@dataclass(frozen=True)
class Change:
    event_id: str
    call: str
    old: str
    new: str
    old_policies: tuple[str, ...]
    new_policies: tuple[str, ...]

    @property
    def rules(self) -> str:
        moved = sorted(set(self.old_policies) ^ set(self.new_policies))
        return ", ".join(moved) or "(same rules, other outcome)"


@dataclass
class Diff:
    calls: int
    changes: list[Change]
    bad_lines: list[BadLine]

    def per_rule(self) -> list[tuple[str, str, str, int]]:
        counts = Counter((c.old, c.new, c.rules) for c in self.changes)
        return [(old, new, rules, n) for (old, new, rules), n in counts.most_common()]


def _decide_all(bundle: Bundle, events: list[AgentEvent]) -> dict[str, tuple[str, tuple[str, ...]]]:
    state = EvaluatorState()
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for event in events:
        state, outputs = step(state, bundle, event)
        for o in outputs:
            if isinstance(o.record, PolicyDecision):
                out[o.record.event_id] = (o.record.decision.value, tuple(o.record.policy_ids))
    return out


def diff(old: Bundle, new: Bundle, events_path: Path) -> Diff:
    with open(events_path) as lines:
        items = [item for _, item in read_events(lines)]
    events = [i for i in items if isinstance(i, AgentEvent)]
    calls = {e.event_id: e for e in events if isinstance(e.body, ToolCallRequested)}
    before, after = _decide_all(old, events), _decide_all(new, events)
    changes = []
    for event_id, (old_decision, old_ids) in before.items():
        new_decision, new_ids = after[event_id]
        if old_decision != new_decision:
            body = calls[event_id].body
            assert isinstance(body, ToolCallRequested)
            changes.append(Change(event_id, f"{body.tool}.{body.action} {body.params}", old_decision,
                                  new_decision, old_ids, new_ids))
    return Diff(len(before), changes, [i for i in items if isinstance(i, BadLine)])
