"""Property-based fuzzing of replay lines (targets in tests/fuzz_targets.py): every line is an event or a BadLine."""

from __future__ import annotations

from hypothesis import settings

from tests.fuzz_targets import SETTINGS, replay_text


def test_any_line_is_an_event_or_a_named_bad_line() -> None:
    settings(SETTINGS, max_examples=200)(replay_text)()
