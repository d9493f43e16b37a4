"""One notation for a figure or an interval bound not known yet, wherever a person reads it."""

from __future__ import annotations

from warden.cli.output import figure
from warden.core.records import MetricFigure
from warden.report.charts import fmt
from warden.rollout.gates import UNKNOWN, describe


def test_an_unknown_bound_reads_the_same_in_reasons_tables_and_the_report() -> None:
    """Fails on the old code: a decision's reason (and so a page, `warden rollout status`'s "last:" and the
    report's decisions table) said 'latency_p95_s 4.2 [?, ?]', while the status table beside it said '∅'
    and the report's cells '-'."""
    text = describe("latency_p95_s", MetricFigure(value=4.2, low=None, high=None, runs=3, target=20, bound="max"))
    assert text == "latency_p95_s 4.2 [∅, ∅] over 3 runs, max 20"
    assert UNKNOWN == figure(None) == fmt(None) == "∅"
