"""`warden eval compare`: a candidate eval run against a base run of the same items.

Success is compared with an exact McNemar test because the two runs are paired binary outcomes on
the same items: what carries information is only the items that flipped (pass→fail, fail→pass), and
under "no change" each flip is equally likely either way, so the number of pass→fail flips among the
flips is Binomial(flips, 1/2). A two-proportion z-test would treat the runs as independent samples
and lose the pairing; the exact form stays valid at the handful of flips a 200-item suite produces.

The gate itself is on the point deltas (success drop, violation increase, cost increase), with
thresholds the caller sets; `alpha` optionally asks, in addition, for the success drop to be
significant, for suites whose agent is not deterministic.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warden.core.errors import ConfigError
from warden.evals.summary import RESULTS_FILE, SUMMARY_FILE

# The release fingerprint's parts, as summary.json names them (a nested "fingerprint" object or top-level keys).
FINGERPRINT_PARTS = ("model", "prompt_version", "tool_schema_hash", "policy_bundle_hash")


@dataclass(frozen=True)
class ItemOutcome:
    """One line of results.jsonl."""

    id: str
    passed: bool
    reasons: tuple[str, ...] = ()
    violations: int = 0
    cost_usd: float = 0.0
    steps: int = 0
    latency_s: float = 0.0


@dataclass(frozen=True)
class EvalRun:
    """An eval run as compare needs it: where it came from, its summary and its items by id."""

    label: str
    summary: dict[str, Any]
    items: dict[str, ItemOutcome]

    def metric(self, name: str) -> float | None:
        value = self.summary.get(name)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    def fingerprint(self) -> dict[str, str | None]:
        nested = self.summary.get("fingerprint")
        source = nested if isinstance(nested, dict) else self.summary
        return {part: None if source.get(part) is None else str(source.get(part)) for part in FINGERPRINT_PARTS}


def _violations(value: Any) -> int:
    """results.jsonl may carry the violations as a count or as the list of denied calls."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"violations must be a count or a list, got {value!r:.60}")
    return int(value)


def parse_item(line: str) -> ItemOutcome:
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    missing = [key for key in ("id", "passed") if key not in record]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if not isinstance(record["passed"], bool):
        raise ValueError(f"passed must be true or false, got {record['passed']!r:.60}")
    reasons = record.get("reasons") or []
    if not isinstance(reasons, list):
        raise ValueError(f"reasons must be a list, got {reasons!r:.60}")
    return ItemOutcome(
        id=str(record["id"]), passed=record["passed"], reasons=tuple(str(r) for r in reasons),
        violations=_violations(record.get("violations", 0)), cost_usd=float(record.get("cost_usd") or 0.0),
        steps=int(record.get("steps") or 0), latency_s=float(record.get("latency_s") or 0.0),
    )


def load_run_dir(directory: Path) -> EvalRun:
    """An eval run's output directory (`warden eval run --out DIR`); a bad line is named with its number."""
    results, summary = directory / RESULTS_FILE, directory / SUMMARY_FILE
    for path in (results, summary):
        if not path.is_file():
            raise ConfigError(f"{directory} is not an eval run directory: {path.name} is missing")
    try:
        document = json.loads(summary.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{summary}: not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{summary}: expected a JSON object, got {type(document).__name__}")
    items: dict[str, ItemOutcome] = {}
    with results.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = parse_item(line)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{results} line {number}: {exc}") from exc
            if item.id in items:
                raise ConfigError(f"{results} line {number}: item {item.id!r} appears twice")
            items[item.id] = item
    return EvalRun(str(directory), document, items)


@dataclass(frozen=True)
class Thresholds:
    """How much worse the candidate may be before compare exits 1. Rates are absolute (0.02 = 2 points)."""

    max_success_drop: float = 0.02
    max_violation_increase: float = 0.0
    max_cost_increase: float = 0.10  # relative: 0.10 = cost per task up 10%
    max_latency_increase: float | None = None  # relative; None: reported, not gated
    alpha: float | None = None  # also require McNemar p < alpha before a success drop counts


@dataclass(frozen=True)
class McNemar:
    """The exact McNemar test on the items both runs scored."""

    paired: int
    regressions: int  # passed in base, failed in candidate
    fixes: int  # failed in base, passed in candidate
    p_value: float


def mcnemar_exact(regressions: int, fixes: int, paired: int | None = None) -> McNemar:
    """Two-sided exact p: twice the smaller binomial tail of Binomial(b + c, 1/2), capped at 1.

    Hand-written (math.comb, exact integers) rather than a scipy dependency for five lines.
    """
    if regressions < 0 or fixes < 0:
        raise ValueError(f"flip counts must be >= 0, got regressions={regressions}, fixes={fixes}")
    flips = regressions + fixes
    if flips == 0:
        return McNemar(paired if paired is not None else 0, 0, 0, 1.0)
    tail = sum(math.comb(flips, i) for i in range(min(regressions, fixes) + 1))
    p = min(1.0, 2 * tail / 2**flips)
    return McNemar(paired if paired is not None else flips, regressions, fixes, p)


@dataclass(frozen=True)
class MetricDelta:
    name: str
    base: float | None
    candidate: float | None
    delta: float | None  # candidate - base
    relative: bool  # the limit applies to delta / base
    limit: float | None  # None: not gated
    regressed: bool
    note: str = ""

    @property
    def relative_delta(self) -> float | None:
        if self.delta is None or self.base is None:
            return None
        if self.base == 0:
            return 0.0 if self.delta == 0 else math.inf
        return self.delta / abs(self.base)


@dataclass(frozen=True)
class Flip:
    id: str
    reasons: tuple[str, ...]  # the candidate's reasons for a pass→fail flip, the base's for fail→pass


@dataclass(frozen=True)
class Comparison:
    base: EvalRun
    candidate: EvalRun
    thresholds: Thresholds
    deltas: tuple[MetricDelta, ...]
    test: McNemar
    to_fail: tuple[Flip, ...]
    to_pass: tuple[Flip, ...]
    new_violations: tuple[str, ...]  # items with no violation in base and at least one in the candidate
    only_base: tuple[str, ...]
    only_candidate: tuple[str, ...]
    fingerprint_changes: tuple[tuple[str, str | None, str | None], ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def regressed(self) -> bool:
        return any(d.regressed for d in self.deltas)

    @property
    def verdict(self) -> str:
        if not self.regressed:
            return "no regression beyond the thresholds"
        return "REGRESSION: " + "; ".join(d.note for d in self.deltas if d.regressed)


def _delta(base: float | None, candidate: float | None) -> float | None:
    return None if base is None or candidate is None else candidate - base


def _success(base: EvalRun, cand: EvalRun, limits: Thresholds, test: McNemar) -> MetricDelta:
    b, c = base.metric("success_rate"), cand.metric("success_rate")
    delta = _delta(b, c)
    drop = 0.0 if delta is None else -delta
    dropped = drop > limits.max_success_drop + 1e-12
    significant = limits.alpha is None or test.p_value < limits.alpha
    note = ""
    if dropped:
        note = f"success rate down {drop * 100:.1f} points (limit {limits.max_success_drop * 100:.1f})"
        if limits.alpha is not None:
            note += f", McNemar p = {test.p_value:.3g} {'<' if significant else '>='} alpha {limits.alpha}"
    return MetricDelta("success_rate", b, c, delta, False, limits.max_success_drop, dropped and significant, note)


def _violation(base: EvalRun, cand: EvalRun, limits: Thresholds) -> MetricDelta:
    b, c = base.metric("violation_rate"), cand.metric("violation_rate")
    delta = _delta(b, c)
    up = delta is not None and delta > limits.max_violation_increase + 1e-12
    note = (f"violation rate up {delta * 100:.1f} points (limit {limits.max_violation_increase * 100:.1f})"
            if up and delta is not None else "")
    return MetricDelta("violation_rate", b, c, delta, False, limits.max_violation_increase, up, note)


def _relative(name: str, label: str, base: EvalRun, cand: EvalRun, limit: float | None) -> MetricDelta:
    b, c = base.metric(name), cand.metric(name)
    delta = _delta(b, c)
    metric = MetricDelta(name, b, c, delta, True, limit, False)
    rel = metric.relative_delta
    up = limit is not None and rel is not None and rel > limit + 1e-12
    if not up or rel is None or limit is None:
        return metric
    shown = "from 0" if math.isinf(rel) else f"{rel * 100:.1f}%"
    return MetricDelta(name, b, c, delta, True, limit, True, f"{label} up {shown} (limit {limit * 100:.0f}%)")


def compare(base: EvalRun, candidate: EvalRun, thresholds: Thresholds | None = None) -> Comparison:
    """Pure: the flips, the paired test, the metric deltas and whether any crossed its threshold."""
    limits = thresholds or Thresholds()
    common = [i for i in base.items if i in candidate.items]
    to_fail = tuple(Flip(i, candidate.items[i].reasons) for i in common
                    if base.items[i].passed and not candidate.items[i].passed)
    to_pass = tuple(Flip(i, base.items[i].reasons) for i in common
                    if not base.items[i].passed and candidate.items[i].passed)
    test = mcnemar_exact(len(to_fail), len(to_pass), len(common))
    deltas = (
        _success(base, candidate, limits, test),
        _violation(base, candidate, limits),
        _relative("cost_per_task_usd", "cost per task", base, candidate, limits.max_cost_increase),
        _relative("latency_p95_s", "latency p95", base, candidate, limits.max_latency_increase),
    )
    only_base = tuple(sorted(set(base.items) - set(candidate.items)))
    only_cand = tuple(sorted(set(candidate.items) - set(base.items)))
    warnings = []
    if only_base or only_cand:
        warnings.append(f"the runs scored different items ({len(only_base)} only in base, {len(only_cand)} only "
                        f"in candidate): the summary deltas compare different sets; McNemar uses the "
                        f"{len(common)} items both scored")
    fb, fc = base.fingerprint(), candidate.fingerprint()
    changes = tuple((part, fb[part], fc[part]) for part in FINGERPRINT_PARTS if fb[part] != fc[part])
    return Comparison(
        base=base, candidate=candidate, thresholds=limits, deltas=deltas, test=test,
        to_fail=to_fail, to_pass=to_pass,
        new_violations=tuple(i for i in common if base.items[i].violations == 0 and candidate.items[i].violations > 0),
        only_base=only_base, only_candidate=only_cand, fingerprint_changes=changes, warnings=tuple(warnings),
    )
