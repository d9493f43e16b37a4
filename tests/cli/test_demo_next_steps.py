"""What the demo prints as next steps works where it says: `warden ledger verify` opens the chDB files
itself, which the running stack holds, so with the stack kept up (--keep-running, --interactive) it is
offered for after Ctrl-C (it used to be listed beside `warden query` as if it worked then too)."""

from __future__ import annotations

from pathlib import Path

from warden.cli.demo import next_steps

WHERE = "run_id LIKE 'demo-s7-001-%'"
VERIFY = "  .venv/bin/warden ledger verify"


def test_with_the_stack_kept_up_verify_comes_after_stopping_it() -> None:
    lines = next_steps(WHERE, Path(".warden/demo-events.jsonl"), stays_up=True)
    before = lines[lines.index(VERIFY) - 1]
    assert before.startswith("Once you have stopped the stack (Ctrl-C here), verify every hash chain")
    assert "refuses while the stack runs" in before
    assert any(line.startswith("  .venv/bin/warden query ") for line in lines[:lines.index(VERIFY)])


def test_when_the_demo_stops_its_stack_verify_is_simply_next() -> None:
    lines = next_steps(WHERE, Path(".warden/demo-events.jsonl"), stays_up=False)
    assert lines[lines.index(VERIFY) - 1] == "Verify every hash chain:"
    assert not any("Ctrl-C" in line for line in lines)
    assert lines[-1] == "  .venv/bin/warden replay .warden/demo-events.jsonl --out replay-out"
