"""Property-based fuzzing of the policy request builder (targets in tests/fuzz_targets.py): always a verdict."""

from __future__ import annotations

from hypothesis import settings

from tests.fuzz_targets import SETTINGS, policy_requests


def test_any_request_gets_a_verdict_never_an_exception() -> None:
    settings(SETTINGS, max_examples=300)(policy_requests)()
