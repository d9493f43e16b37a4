"""Property-based fuzzing of the codec and Wire.decode (targets in tests/fuzz_targets.py; bounded for CI,
benchmarks/fuzz.py runs 100,000 inputs)."""

from __future__ import annotations

from hypothesis import settings

from tests.fuzz_targets import SETTINGS, codec_bytes, wire_records


def test_bytes_off_a_topic_are_a_record_or_a_decode_or_validation_error() -> None:
    settings(SETTINGS, max_examples=300)(codec_bytes)()


def test_records_any_client_can_write_decode_or_are_refused_and_never_stop_the_evaluator() -> None:
    settings(SETTINGS, max_examples=300)(wire_records)()
