"""`warden eval compare`: flips, deltas, the exact McNemar test and the exit code on a regression."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from warden.cli.main import app
from warden.core.errors import ConfigError
from warden.evals.compare import Thresholds, compare, load_run_dir, mcnemar_exact
from warden.evals.compare_render import to_html, to_markdown

FINGERPRINT = {"model": "ref-agent-1", "prompt_version": "p1", "tool_schema_hash": "aa11", "policy_bundle_hash": "bb22"}


def write_run(directory: Path, outcomes: dict[str, bool], *, violations: dict[str, int] | None = None,
              cost: float = 0.01, latency: float = 1.0, fingerprint: dict[str, str] | None = None,
              summary: dict[str, Any] | None = None) -> Path:
    """A run directory in the issue's format, with summary metrics computed from the items."""
    directory.mkdir(parents=True)
    violations = violations or {}
    lines = [{"id": i, "passed": ok, "reasons": [] if ok else [f"{i}: missing refunds[0]"],
              "violations": violations.get(i, 0), "cost_usd": cost, "steps": 3, "latency_s": latency}
             for i, ok in outcomes.items()]
    (directory / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    n = len(outcomes)
    document = {"items": n, "passed": sum(outcomes.values()), "success_rate": sum(outcomes.values()) / n,
                "success_rate_ci95": [0.0, 1.0], "violation_rate": sum(v > 0 for v in violations.values()) / n,
                "cost_per_task_usd": cost, "latency_p95_s": latency, **(fingerprint or FINGERPRINT),
                **(summary or {})}
    (directory / "summary.json").write_text(json.dumps(document))
    return directory


def items(passed: int, failed: int, prefix: str = "i") -> dict[str, bool]:
    return {f"{prefix}{n:03d}": n < passed for n in range(passed + failed)}


def test_mcnemar_exact_matches_the_binomial_tail() -> None:
    assert mcnemar_exact(0, 0).p_value == 1.0
    # 6 flips all one way: p = 2 * (1/2)^6
    assert mcnemar_exact(6, 0).p_value == pytest.approx(2 / 64)
    # b=1, c=9: 2 * (C(10,0)+C(10,1)) / 2^10
    assert mcnemar_exact(1, 9).p_value == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(5, 5).p_value == 1.0  # capped: the two tails overlap at the middle
    # symmetric, and exact at a size where floats of 2^n would overflow a naive float power
    assert mcnemar_exact(400, 600).p_value == mcnemar_exact(600, 400).p_value
    assert 0 < mcnemar_exact(400, 600).p_value < 1e-9
    with pytest.raises(ValueError, match="flip counts"):
        mcnemar_exact(-1, 2)


def test_flips_deltas_and_no_regression_within_thresholds(tmp_path: Path) -> None:
    base = items(18, 2)
    cand = dict(base, i000=False, i019=True)  # one regression, one fix: rate unchanged
    result = compare(load_run_dir(write_run(tmp_path / "b", base)), load_run_dir(write_run(tmp_path / "c", cand)))
    assert [f.id for f in result.to_fail] == ["i000"] and [f.id for f in result.to_pass] == ["i019"]
    assert result.to_fail[0].reasons == ("i000: missing refunds[0]",)
    assert (result.test.paired, result.test.regressions, result.test.fixes) == (20, 1, 1)
    assert result.test.p_value == 1.0
    assert not result.regressed and result.verdict == "no regression beyond the thresholds"
    assert result.deltas[0].delta == 0.0 and not result.fingerprint_changes


def test_a_success_drop_beyond_the_threshold_is_a_regression_and_alpha_can_demand_significance(tmp_path: Path) -> None:
    base, cand = items(20, 0), dict(items(20, 0), i000=False, i001=False)  # 100% -> 90%
    b, c = load_run_dir(write_run(tmp_path / "b", base)), load_run_dir(write_run(tmp_path / "c", cand))
    result = compare(b, c)
    assert result.regressed and "success rate down 10.0 points (limit 2.0)" in result.verdict
    assert result.test.p_value == pytest.approx(0.5)  # 2 flips one way: 2 * 1/4
    assert not compare(b, c, Thresholds(max_success_drop=0.10)).regressed  # exactly at the limit is allowed
    lenient = compare(b, c, Thresholds(alpha=0.05))
    assert not lenient.regressed  # 2 flips are not significant at 5%
    assert "McNemar p = 0.5 >= alpha 0.05" in lenient.deltas[0].note


def test_new_violations_and_cost_increase_are_regressions(tmp_path: Path) -> None:
    base = write_run(tmp_path / "b", items(10, 0), cost=0.010)
    cand = write_run(tmp_path / "c", items(10, 0), violations={"i003": 1}, cost=0.0125,
                     fingerprint={**FINGERPRINT, "model": "ref-agent-2"})
    result = compare(load_run_dir(base), load_run_dir(cand))
    assert result.new_violations == ("i003",)
    assert "violation rate up 10.0 points (limit 0.0)" in result.verdict
    assert "cost per task up 25.0% (limit 10%)" in result.verdict
    assert result.fingerprint_changes == (("model", "ref-agent-1", "ref-agent-2"),)
    loose = compare(load_run_dir(base), load_run_dir(cand),
                    Thresholds(max_violation_increase=0.2, max_cost_increase=0.3))
    assert not loose.regressed


def test_cost_from_zero_and_latency_gate(tmp_path: Path) -> None:
    base = write_run(tmp_path / "b", items(5, 0), cost=0.0, latency=1.0)
    cand = write_run(tmp_path / "c", items(5, 0), cost=0.01, latency=1.5)
    result = compare(load_run_dir(base), load_run_dir(cand), Thresholds(max_latency_increase=0.2))
    cost, latency = result.deltas[2], result.deltas[3]
    assert cost.regressed and math.isinf(cost.relative_delta or 0) and "cost per task up from 0" in cost.note
    assert latency.regressed and "latency p95 up 50.0% (limit 20%)" in latency.note
    assert not compare(load_run_dir(base), load_run_dir(cand), Thresholds(max_cost_increase=math.inf)).regressed


def test_different_item_sets_are_paired_on_the_common_items_and_warned(tmp_path: Path) -> None:
    base = write_run(tmp_path / "b", {"a": True, "b": True, "c": False})
    cand = write_run(tmp_path / "c", {"b": False, "c": True, "d": True})
    result = compare(load_run_dir(base), load_run_dir(cand))
    assert result.only_base == ("a",) and result.only_candidate == ("d",)
    assert result.test.paired == 2 and (result.test.regressions, result.test.fixes) == (1, 1)
    assert "scored different items" in result.warnings[0]


def test_a_bad_results_line_is_named(tmp_path: Path) -> None:
    run = write_run(tmp_path / "b", items(2, 0))
    with (run / "results.jsonl").open("a") as out:
        out.write('{"id": "x", "passed": "yes"}\n')
    with pytest.raises(ConfigError, match=r"results.jsonl line 3: passed must be true or false"):
        load_run_dir(run)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "results.jsonl").write_text("")
    with pytest.raises(ConfigError, match=r"is not an eval run directory: summary\.json is missing"):
        load_run_dir(tmp_path / "half")


def test_markdown_and_html_render_the_same_comparison(tmp_path: Path) -> None:
    base = write_run(tmp_path / "b", items(20, 0))
    cand = write_run(tmp_path / "c", dict(items(20, 0), i004=False), violations={"i004": 2},
                     fingerprint={**FINGERPRINT, "policy_bundle_hash": "cc33"})
    result = compare(load_run_dir(base), load_run_dir(cand))
    md = to_markdown(result)
    assert "**❌ REGRESSION:" in md
    assert "| success rate | 100.0% | 95.0% | -5.0 pts | drop ≤ 2.0 pts | REGRESSED |" in md
    assert "Exact McNemar test on the 20 items both runs scored: 1 pass→fail, 0 fail→pass" in md
    assert "| `i004` | i004: missing refunds[0] |" in md
    assert "| policy_bundle_hash | bb22 | cc33 |" in md
    page = to_html(result)
    assert page.startswith("<!doctype html>") and "<script" not in page and "http" not in page
    assert "<td>i004</td><td>i004: missing refunds[0]</td>" in page and "class='verdict bad'" in page


def test_cli_exit_codes_markdown_file_and_html(tmp_path: Path) -> None:
    base = write_run(tmp_path / "b", items(20, 0))
    same = write_run(tmp_path / "same", items(20, 0))
    worse = write_run(tmp_path / "worse", dict(items(20, 0), i000=False, i001=False))
    ok = CliRunner().invoke(app, ["eval", "compare", str(base), str(same)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("## Eval comparison") and "✅ no regression" in ok.output
    md, html = tmp_path / "out" / "cmp.md", tmp_path / "out" / "cmp.html"
    bad = CliRunner().invoke(app, ["eval", "compare", str(base), str(worse),
                                   "--markdown", str(md), "--html", str(html)])
    assert bad.exit_code == 1
    assert bad.output.startswith("REGRESSION: success rate down 10.0 points")
    assert "Flipped to fail (2)" in md.read_text() and "<h2>Flipped to fail (2)</h2>" in html.read_text()
    allowed = CliRunner().invoke(app, ["eval", "compare", str(base), str(worse), "--max-success-drop", "0.1"])
    assert allowed.exit_code == 0, allowed.output
    missing = CliRunner().invoke(app, ["eval", "compare", str(base), str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "is not an eval run directory" in " ".join(missing.output.split())
