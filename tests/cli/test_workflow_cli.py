"""`warden workflow status --since`: a window is refused by name when it cannot be a window."""

from __future__ import annotations

from datetime import timedelta

import pytest
import typer

from warden.cli.workflow import span


def test_a_window_past_the_calendar_is_refused_with_what_was_expected() -> None:
    """99999999999d and 9999999d were OverflowError tracebacks (timedelta's range, then now - window)."""
    for text in ("99999999999d", "9999999d"):
        with pytest.raises(typer.BadParameter, match=rf"the window '{text}' reaches before year 1; expected a span"):
            span(text)
    assert span("7d") == timedelta(days=7) and span("30m") == timedelta(minutes=30)
    with pytest.raises(typer.BadParameter, match="expected a span like 30m, 24h or 7d, got '7 weeks'"):
        span("7 weeks")
