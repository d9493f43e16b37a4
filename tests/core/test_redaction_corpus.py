"""The redaction corpus (redaction_corpus.jsonl): PII and secrets that must go, near-misses that must stay.

Each positive names the kind it must be counted as and a substring that must not survive; each
near-miss must come back byte for byte. benchmarks/redaction.py reports the same figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from warden.core.redaction import redact

CORPUS = Path(__file__).with_name("redaction_corpus.jsonl")


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


SAMPLES = load_corpus()
POSITIVES = [s for s in SAMPLES if s["expect"]]
NEAR_MISSES = [s for s in SAMPLES if not s["expect"]]


def score(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall (a positive's value is gone and counted as its kind) and false positives (a near-miss changed)."""
    caught = [s["note"] for s in samples if s["expect"] and _caught(s)]
    missed = [s["note"] for s in samples if s["expect"] and not _caught(s)]
    changed = [s["note"] for s in samples if not s["expect"] and redact(s["text"]).text != s["text"]]
    positives, near = len(caught) + len(missed), sum(1 for s in samples if not s["expect"])
    return {"positives": positives, "near_misses": near, "recall": len(caught) / positives,
            "false_positives": len(changed), "missed": missed, "changed": changed}


def _caught(sample: dict[str, Any]) -> bool:
    result = redact(sample["text"])
    return result.counts == sample["expect"] and sample["value"] not in (result.text or "")


def test_the_corpus_is_large_enough_and_has_every_kind() -> None:
    assert len(POSITIVES) >= 50 and len(NEAR_MISSES) >= 30
    kinds = {kind for s in POSITIVES for kind in s["expect"]}
    assert kinds == {"email", "card", "iban", "national_id", "phone", "secret"}


@pytest.mark.parametrize("sample", POSITIVES, ids=[s["note"] for s in POSITIVES])
def test_each_sample_is_redacted_as_its_kind(sample: dict[str, Any]) -> None:
    result = redact(sample["text"])
    assert result.counts == sample["expect"], result
    assert sample["value"] not in (result.text or ""), result.text
    if sample["text"].startswith(("{", "[")):
        json.loads(result.text or "")  # JSON stays JSON


@pytest.mark.parametrize("sample", NEAR_MISSES, ids=[s["note"] for s in NEAR_MISSES])
def test_each_near_miss_is_kept(sample: dict[str, Any]) -> None:
    result = redact(sample["text"])
    assert (result.text, result.counts) == (sample["text"], {})


def test_recall_and_false_positives(capsys: pytest.CaptureFixture[str]) -> None:
    figures = score(SAMPLES)
    with capsys.disabled():
        print(f"\nredaction corpus: recall {figures['recall']:.3f} over {figures['positives']} samples, "
              f"{figures['false_positives']} false positives over {figures['near_misses']} near-misses")
    assert figures["recall"] == 1.0, figures["missed"]
    assert figures["false_positives"] == 0, figures["changed"]


def test_tokens_already_in_a_text_are_counted_so_sdk_redaction_keeps_its_count() -> None:
    """The SDK redacts outputs before producing: the ledger row and the risk-scorer's pii factor still see them."""
    text = '{"to": "[REDACTED:email]", "n": 1}'
    assert redact(text).counts == {"email": 1} and redact(text).text == text
    assert redact(text, count_existing=False).counts == {}
