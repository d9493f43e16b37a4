"""Panel SQL written once and used by several panels: approval requests from every sender, blocks by
the policy that denied. `warden dashboards build` writes it into dashboards/*.json."""

from __future__ import annotations

from warden.dashboards.metric_sql import TENANT, WORKFLOW

RUNS_OF_WORKFLOW = ("$__conditionalAll(run_id IN (SELECT run_id FROM warden.agent_events WHERE event_type = "
                    "'run_started' AND workflow IN (${workflow:singlequote})), $workflow)")
RUNS_OF_TENANT = ("$__conditionalAll(run_id IN (SELECT run_id FROM warden.agent_events WHERE event_type = "
                  "'run_started' AND tenant_id IN (${tenant:singlequote})), $tenant)")

# One row per call sent to a human, whoever sent it: the policy-evaluator (require_approval), the
# risk-scorer (a call policy allowed but whose score is in the workflow's top share) or the tool proxy.
# The approvals service decides all three alike; a call asked twice counts once.
REQUESTS = """SELECT call_id, any(run_id) AS run_id, any(tenant_id) AS tenant_id, min(requested_at) AS requested_at,
           arrayStringConcat(arraySort(groupUniqArray(sender)), '+') AS sent_by
    FROM (
        SELECT call_id, run_id, tenant_id, decided_at AS requested_at, 'policy' AS sender
        FROM warden.policy_decisions WHERE decision = 'require_approval'
        UNION ALL
        SELECT assumeNotNull(call_id), run_id, tenant_id, coalesce(scored_at, ingested_at), 'risk'
        FROM warden.risk_scores WHERE subject = 'tool_call' AND route_to_human AND call_id IS NOT NULL
        UNION ALL
        SELECT assumeNotNull(call_id), assumeNotNull(run_id), ifNull(tenant_id, ''), at, 'proxy'
        FROM warden.proxy_calls
        WHERE kind = 'call' AND decision = 'require_approval' AND call_id IS NOT NULL AND run_id IS NOT NULL)
    GROUP BY call_id"""

_DECIDED = (f"FROM warden.approvals AS a\nLEFT JOIN ({REQUESTS}) AS r ON r.call_id = a.call_id\n"
            f"WHERE $__timeFilter(a.decided_at) AND {RUNS_OF_TENANT.replace('(run_id', '(a.run_id')} "
            f"AND {RUNS_OF_WORKFLOW.replace('(run_id', '(a.run_id')}")
_WAIT = "dateDiff('millisecond', r.requested_at, a.decided_at) / 1000"
_KNOWN = "r.call_id != ''"  # a decision whose request is in the ledger (else its wait is unknown)


def requests_and_decisions() -> str:
    return f"""SELECT time, outcome, sum(n) AS calls
FROM (
    SELECT $__timeInterval(requested_at) AS time, 'requested' AS outcome, count() AS n
    FROM ({REQUESTS})
    WHERE $__timeFilter(requested_at) AND {TENANT} AND {RUNS_OF_WORKFLOW}
    GROUP BY time
    UNION ALL
    SELECT $__timeInterval(a.decided_at) AS time, toString(a.decision) AS outcome, count() AS n
    {_DECIDED}
    GROUP BY time, outcome
)
GROUP BY time, outcome
ORDER BY time, outcome"""


def outcomes() -> str:
    return f"SELECT toString(a.decision) AS outcome, count() AS calls\n{_DECIDED}\nGROUP BY outcome\nORDER BY outcome"


def time_to_decision() -> str:
    return f"""SELECT toString(a.decision) AS outcome,
       quantileIf(0.5)({_WAIT}, {_KNOWN}) AS p50_s,
       quantileIf(0.95)({_WAIT}, {_KNOWN}) AS p95_s
{_DECIDED}
GROUP BY outcome
ORDER BY outcome"""


def approvers() -> str:
    return f"""SELECT a.approver AS approver, countIf(a.decision = 'approved') AS approved,
       countIf(a.decision = 'rejected') AS rejected, countIf(a.decision = 'expired') AS expired,
       round(quantileIf(0.5)({_WAIT}, {_KNOWN}), 1) AS median_s,
       arrayStringConcat(arraySort(groupUniqArrayIf(r.sent_by, {_KNOWN})), ', ') AS requests_from
{_DECIDED}
GROUP BY approver
ORDER BY approved + rejected + expired DESC, approver"""


def requests_by_sender() -> str:
    return f"""SELECT sent_by, count() AS requests
FROM ({REQUESTS})
WHERE $__timeFilter(requested_at) AND {TENANT} AND {RUNS_OF_WORKFLOW}
GROUP BY sent_by
ORDER BY requests DESC, sent_by"""


def _started() -> str:
    return ("SELECT run_id, min(occurred_at) AS started_at FROM warden.agent_events\n"
            f"      WHERE event_type = 'run_started' AND $__timeFilter(occurred_at) AND {TENANT} AND {WORKFLOW}\n"
            "      GROUP BY run_id")


def hitl_share() -> str:
    """Runs started in the range that asked a human at least once (any sender) ÷ those runs."""
    return (f"SELECT countIf(run_id IN (SELECT run_id FROM ({REQUESTS}))) / nullIf(count(), 0) AS hitl_share\n"
            f"FROM ({_started()})")


def hitl_share_over_time() -> str:
    return (f"SELECT $__timeInterval(started_at) AS time, 'runs with an approval request' AS series,\n"
            f"       countIf(run_id IN (SELECT run_id FROM ({REQUESTS}))) / count() AS share\n"
            f"FROM ({_started()})\nGROUP BY time\nORDER BY time")


def blocks_by_policy() -> str:
    """A deny under a kill switch names the switch first and then the rules the call met anyway (a
    permit, often): the switch denied it. Otherwise the ids of a deny are the forbids that matched."""
    denier = ("multiIf(empty(policy_ids), ['(no policy id)'], startsWith(policy_ids[1], 'switch:'), "
              "[policy_ids[1]], policy_ids)")
    return f"""SELECT arrayJoin({denier}) AS policy, count() AS blocks
FROM warden.policy_decisions
WHERE decision = 'deny' AND $__timeFilter(decided_at) AND {TENANT} AND {RUNS_OF_WORKFLOW}
GROUP BY policy
ORDER BY blocks DESC, policy
LIMIT 12"""
