"""What the demo shows, as data: its two rollout plans, the traffic of each phase, and when things happen.

The story, in event time from ``start``:
  phase 1  both rollouts at 5%. refund_ticket's candidate v4 spends 40% more tokens per call than v3;
           export_report's v4 is as good as v3. The phase ends with the incident: a triage agent told
           by a ticket to delete a customer does so, a stop-ship condition, and the kill switch trips.
  cut-off  the controller judges both steps: refund_ticket rolls back on the cost gate (a page names
           it), export_report passes every gate and is promoted to 25%.
  phase 2  export_report at 25%; triage_ticket is switched off, so its agents take the fallback.
  cut-off  export_report passes again; past 25% the promotion waits for a human, and the demo
           approver approves it through the approvals service: 100%, complete. On-call has
           investigated the incident meanwhile, and an operator revives triage_ticket, keeping the tool
           crm.delete_record switched off until the agent's fix is reviewed (the one switch left on).
  phase 3  everything runs again, export_report's v4 for every user; a short cost spike.

Sizing (the gates are the controller's own, and decide for real): a gate passes only when its whole
interval is on the good side, so passing takes runs. With the workflow targets as they stand
(violation_rate_max 0.02, high_severity_rate_max 0.005) a clean candidate needs about 360 and 1,400
completed runs at 95% confidence; at 5% of traffic that is 28,000 runs of the workflow. The demo's
export_report plan therefore judges at 80% family-wise confidence with violation and high-severity
gates of 5% (the other gates are the workflow's targets), where about 85 completed candidate runs
pass when the candidate is clean: the latency p95's distribution-free interval needs that many
whatever the latencies (warden.rollout.intervals). Its 5% step still needs about 2,000 runs of
export_report, which is why phase 1 is mostly that workflow. The refund_ticket plan needs only to
fail: its cost gate's interval lies above +20% once about ten candidate runs are in, so min_runs = 10.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from warden.rollout.plan import Gates, RolloutPlan

OPERATOR = "demo-operator@warden.local"  # starts the rollouts, revives the switch
ONCALL = "demo-oncall@warden.local"
COST_ROLLOUT = "refund_ticket"
PROMOTED_ROLLOUT = "export_report"
INCIDENT_WORKFLOW = "triage_ticket"
HELD_TOOL = "crm.delete_record"  # switched off by the operator when the workflow is revived, and left off
HOLD = timedelta(minutes=40)  # event time at a step before its first judgment (then every JUDGE_EVERY)

JUDGE_EVERY = timedelta(minutes=20)  # a step still inconclusive at its cut-off is judged again this much later

PHASE_1 = {"export_report": 0.88, "refund_ticket": 0.09, "provision_access": 0.015, "triage_ticket": 0.015}
PHASE_2 = {"export_report": 0.62, "refund_ticket": 0.14, "provision_access": 0.12, "triage_ticket": 0.12}
PHASE_3 = {"export_report": 0.25, "refund_ticket": 0.3, "provision_access": 0.25, "triage_ticket": 0.2}
PHASE_3_MIN = timedelta(minutes=30)
SPIKE_RUNS = 12


def plans(start: datetime) -> tuple[RolloutPlan, RolloutPlan]:
    """The two plans, starting at ``start`` (event time). Gates they leave out are the workflow's targets."""
    common: dict[str, Any] = {"baseline": "v3", "candidate": "v4", "steps": (5, 25, 100), "start_at": start,
                              "judge_every_minutes": JUDGE_EVERY.total_seconds() / 60}
    cost = RolloutPlan(workflow=COST_ROLLOUT, min_runs=10, hold_minutes=HOLD.total_seconds() / 60,
                       gates=Gates(cost_increase_vs_baseline_max=0.2, success_drop_vs_baseline_max=0.05),
                       **common)
    promoted = RolloutPlan(workflow=PROMOTED_ROLLOUT, min_runs=90, hold_minutes=HOLD.total_seconds() / 60,
                           confidence=0.8,
                           gates=Gates(violation_rate_max=0.05, high_severity_rate_max=0.05,
                                       cost_increase_vs_baseline_max=0.2),
                           **common)
    return cost, promoted
