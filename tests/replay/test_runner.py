"""`warden replay`: every good line processed, every bad line named, non-zero exit if any."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.alerting.events import tool_error
from tests.cost_aggregator.helpers import same_totals, totals
from tests.ledger_sink.helpers import simulated
from warden.core.records import CostRollup
from warden.replay.runner import OUTPUT_FILES, replay
from warden.stack import warden_command


def write_events(path: Path) -> list[str]:
    events = simulated(40, "replay")
    lines = [json.dumps(e.to_json_view()) for e in events]
    broken = json.loads(lines[3])
    broken["step"] = 0
    lines.insert(5, json.dumps(broken))  # line 6
    lines.insert(10, "{not json")  # line 11
    lines.insert(15, "[1, 2]")  # line 16
    mismatch = json.loads(lines[20])
    mismatch["event_type"] = "run_completed" if mismatch["event_type"] != "run_completed" else "llm_call"
    lines.insert(25, json.dumps(mismatch))  # line 26
    path.write_text("\n".join(lines) + "\n")
    return lines


def test_bad_lines_are_named_and_good_lines_all_processed(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    write_events(source)
    result = replay(source, tmp_path / "out")
    assert result.events == 40
    assert [b.line for b in result.bad] == [6, 11, 16, 26]
    reasons = {b.line: b.reason for b in result.bad}
    assert "step" in reasons[6]
    assert "not JSON" in reasons[11]
    assert "expected a JSON object" in reasons[16]
    assert "body" in reasons[26] or "extra" in reasons[26].lower() or "field required" in reasons[26].lower()
    for name in (*OUTPUT_FILES, "events.jsonl"):
        assert (tmp_path / "out" / name).exists()
    landed = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert len(landed) == 40
    assert all("@example" not in json.dumps(row) for row in landed)  # redacted as the ledger stores it
    assert result.redactions > 0


def test_the_cli_exits_non_zero_naming_each_bad_line(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    write_events(source)
    done = subprocess.run([*warden_command(), "replay", str(source), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    for line in (6, 11, 16, 26):
        assert f"events.jsonl:{line}" in done.stderr.replace("\n", "")
    assert "replayed 40 events" in done.stdout


def test_a_clean_file_exits_zero(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps(e.to_json_view()) + "\n" for e in simulated(10, "clean")))
    done = subprocess.run([*warden_command(), "replay", str(source), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_events_sent_twice_give_the_outputs_of_events_sent_once(tmp_path: Path) -> None:
    """A client's re-sends (same event_id) are counted once by every processor, and each output file
    keeps one record per ledger id, so replay's files are what the ledger holds."""
    events = simulated(3000, "resend", seed=4)
    lines = [json.dumps(e.to_json_view()) for e in events]
    resent: list[str] = []
    for i, line in enumerate(lines):
        resent.append(line)
        if i % 7 == 0:
            resent.append(line)  # sent again at once
        if i % 11 == 0 and i > 40:
            resent.append(lines[i - 40])  # and again, later
    once, twice = tmp_path / "once.jsonl", tmp_path / "twice.jsonl"
    once.write_text("\n".join(lines) + "\n")
    twice.write_text("\n".join(resent) + "\n")
    clean, again = replay(once, tmp_path / "once"), replay(twice, tmp_path / "twice")
    assert again.events == clean.events == 3000 and again.redactions == clean.redactions
    assert again.duplicates["events.jsonl"] == len(resent) - len(lines)
    for name in ("events.jsonl", "decisions.jsonl", "risk.jsonl", "alerts.jsonl"):
        assert (tmp_path / "twice" / name).read_text() == (tmp_path / "once" / name).read_text(), name
    # rollup ids name a delta's first line, which the extra lines move: the money is the same
    rollups = {run: [CostRollup.model_validate_json(row)
                     for row in (tmp_path / run / "costs.jsonl").read_text().splitlines()] for run in ("once", "twice")}
    assert same_totals(totals(rollups["twice"]), totals(rollups["once"]))
    assert totals(rollups["once"])


def test_a_burst_one_short_of_the_threshold_plus_re_sends_raises_no_alert(tmp_path: Path) -> None:
    burst = [tool_error(t, run=f"r{t}") for t in (0, 30, 60, 90)]
    source = tmp_path / "burst.jsonl"
    source.write_text("".join(json.dumps(e.to_json_view()) + "\n" for e in [*burst, *burst, burst[0]]))
    result = replay(source, tmp_path / "out")
    assert (tmp_path / "out" / "alerts.jsonl").read_text() == ""
    assert result.events == 4

def test_hostile_lines_are_named_bad_lines_and_every_good_line_is_processed(tmp_path: Path) -> None:
    """Issue 13: one line of 5,000 '[' raised RecursionError out of replay, and nothing after it ran."""
    events = [json.dumps(e.to_json_view()) for e in simulated(20, "hostile")]
    deep_params = json.loads(next(line for line in events if '"tool_call_requested"' in line))
    deep_params["body"]["params"] = '{"a": ' + "[" * 10_000 + "]" * 10_000 + "}"
    twice = events[2][:-1] + ', "step": 2}'  # a duplicate key: which step would it be?
    lines = [*events[:5], "[" * 5000, json.dumps(deep_params), twice, "x" * (1024 * 1024 + 1), *events[5:]]
    source = tmp_path / "events.jsonl"
    source.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe not utf-8\n")
    result = replay(source, tmp_path / "out")
    assert result.events == 20
    reasons = {b.line: b.reason for b in result.bad}
    assert sorted(reasons) == [6, 7, 8, 9, 25]
    assert "line nests deeper than the limit of 32 levels (WARDEN_LIMIT_JSON_DEPTH)" in reasons[6]
    assert "params nests deeper than the limit of 32 levels" in reasons[7]
    assert "has the key 'step' twice" in reasons[8]
    assert "over the limit of 1048576 bytes (WARDEN_LIMIT_RECORD_BYTES)" in reasons[9]
    assert "lone surrogate" in reasons[25]  # bytes that are not UTF-8
