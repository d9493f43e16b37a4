"""Piped output keeps whole table rows: rich alone assumes 80 columns off a terminal and squeezes every cell."""

from __future__ import annotations

import io

import pytest

from warden.cli.output import PIPED_WIDTH, _Console, table


def test_a_pipe_gets_the_wide_width_and_rows_stay_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    sink = io.StringIO()
    piped = _Console(file=sink)
    long_id = "run-" + "0123456789abcdef" * 3
    piped.print(table(["workflow", "route", "run", "reason"],
                      [["refund_ticket", "cheap", long_id, "a reason that would wrap at eighty columns"]]))
    assert piped.width == PIPED_WIDTH
    assert any(long_id in line and "eighty columns" in line for line in sink.getvalue().splitlines())


def test_a_terminal_keeps_its_own_width() -> None:
    terminal = _Console(file=io.StringIO(), force_terminal=True, width=100)
    assert terminal.width == 100


def test_figures_are_shown_to_four_significant_digits() -> None:
    from warden.cli.output import figure
    assert figure(0.47128712871287126) == "0.4713"
    assert figure(None) == "∅"
    assert figure(12) == "12"
    assert figure(0.005) == "0.005"


def test_columns_set_by_the_user_are_kept_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert _Console(file=io.StringIO()).width == 80
