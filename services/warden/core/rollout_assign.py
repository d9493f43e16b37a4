"""Which release a unit (a user, a ticket, a tenant: the caller chooses) runs, at a rollout's stage.

A unit's bucket is a hash of workflow and unit into 10,000 buckets, the same in every process and
every version (blake2b, not Python's salted hash); the candidate takes buckets below percent x 100.
So assignment is deterministic, sticky as the percentage grows (a unit in the 5% is in the 25%), and
exact to 0.01 point of traffic over many units.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from warden.core.errors import ValidationError
from warden.core.records import RolloutStage, RolloutStatus
from warden.core.workflows import Fallback

BUCKETS = 10_000


def bucket(workflow: str, unit: str) -> int:
    try:
        digest = hashlib.blake2b(f"{workflow}\x1f{unit}".encode(), digest_size=8).digest()
    except UnicodeEncodeError:  # a lone surrogate: no process could hash it the same way as UTF-8
        raise ValidationError(f"release_for: workflow {workflow!r:.80} and unit {unit!r:.80} must be text without "
                              "lone surrogates") from None
    return int.from_bytes(digest, "big") % BUCKETS


def names_refused(tenant_id: object, workflow: object, unit: object) -> ValidationError:
    """The error for arguments of release_for that are not non-empty strings. Without it a None or an int
    was hashed as its repr: every caller passing None shared one bucket ("None"), a b"u1" was not "u1", and
    a None tenant matched no tenant kill switch (fail open)."""
    bad = [f"{name} {value!r:.80} ({type(value).__name__})" for name, value in
           (("tenant_id", tenant_id), ("workflow", workflow), ("unit", unit))
           if not isinstance(value, str) or not value]
    return ValidationError(f"release_for takes a non-empty string for tenant_id, workflow and unit; got "
                           f"{', '.join(bad)}")


@dataclass(frozen=True, slots=True)
class Assignment:
    """`release`: what to run (None: no rollout of this workflow, run what you run). `fallback`: set instead
    when the workflow is switched off: degrade as the workflow's contract says (checklist section 6)."""

    release: str | None
    fallback: Fallback | None = None
    rollout_id: str | None = None
    percent: int = 0  # the candidate's share at the stage read
    candidate: bool = False

    def __str__(self) -> str:
        return self.fallback.value if self.fallback else self.release or ""


NO_ROLLOUT = Assignment(None)


@lru_cache(maxsize=1024)
def _answer(release: str, rollout_id: str, percent: int, candidate: bool) -> Assignment:
    """A stage has two answers (candidate or baseline): made once, not per call (release_for is per unit)."""
    return Assignment(release, rollout_id=rollout_id, percent=percent, candidate=candidate)


def assign(stage: RolloutStage | None, workflow: str, unit: str) -> Assignment:
    if stage is None:
        return NO_ROLLOUT
    if stage.status == RolloutStatus.COMPLETED:
        return _answer(stage.candidate, stage.rollout_id, 100, True)
    percent = 0 if stage.status == RolloutStatus.ROLLED_BACK else stage.percent
    chosen = bucket(workflow, unit) < percent * (BUCKETS // 100)
    return _answer(stage.candidate if chosen else stage.baseline, stage.rollout_id, percent, chosen)
