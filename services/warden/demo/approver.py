"""A simulated on-duty approver for the demo: decides pending requests through the approvals API.

The demo's events end at about the time it runs, so requests older than the approval timeout
expire on their own (recorded by ``warden:timeout``) and the approver decides the recent ones,
the way a human working the queue would: most approved, some rejected, always with a rationale.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from warden.core.errors import WardenError

APPROVER = "demo-approver@warden.local"
RATIONALES = {
    "approve": ("customer verified against the order", "within the tenant's refund policy",
                "access requested by the team lead"),
    "reject": ("amount not justified by the ticket", "role broader than the task needs"),
}


@dataclass
class ApproverTally:
    approved: int = 0
    rejected: int = 0


def work_queue(url: str, token: str, rng: random.Random, tally: ApproverTally, timeout_s: float = 15.0) -> int:
    """Decide every request pending now (one in three rejected, the first included); returns how many were decided."""
    headers = {"Authorization": f"Bearer {token}"}
    try:
        response = httpx.get(f"{url}/v1/approvals", headers=headers, timeout=timeout_s)
        if response.status_code == 503:
            return 0  # the service is still reading earlier decisions
        response.raise_for_status()
        decided = 0
        for item in response.json():
            verb = "reject" if (tally.approved + tally.rejected) % 3 == 0 else "approve"
            answer = httpx.post(f"{url}/v1/approvals/{item['call_id']}/{verb}", headers=headers, timeout=timeout_s,
                                json={"rationale": rng.choice(RATIONALES[verb])})
            if answer.status_code in (404, 409):
                continue  # expired or decided meanwhile
            answer.raise_for_status()
            decided += 1
            if verb == "approve":
                tally.approved += 1
            else:
                tally.rejected += 1
    except httpx.HTTPError as exc:
        raise WardenError(f"the demo approver could not use the approvals API at {url}: {exc}") from exc
    return decided
