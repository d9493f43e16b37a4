"""LlmCall's cache fields and CostRollup's hits and savings: defaulted, so old and new read each other.

An agent platform on an SDK from before the cache keeps publishing llm_calls without them, and services
from before keep reading the new SDK's: both directions, as tests/core/test_evolution.py does.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.core.samples import event, every_record
from warden.core.catalog import SCHEMAS_DIR
from warden.core.codec import AvroCodec
from warden.core.events import AgentEvent, LlmCall
from warden.core.records import CostRollup
from warden.core.registry import FileSchemaRegistry
from warden.core.wire import Wire, validate

EVENT, ROLLUP = "warden.AgentEvent", "warden.CostRollup"
LLM_FIELDS = ("cache_key", "cache_hit", "cache_pii", "saved_input_tokens", "saved_output_tokens", "saved_usd")
ROLLUP_FIELDS = ("cache_hits", "saved_tokens", "saved_usd")


def before_cache() -> dict[str, dict[str, Any]]:
    """agent_event.avsc and cost_rollup.avsc as they were before the SDK cache (issue 17)."""
    agent = json.loads((SCHEMAS_DIR / "agent_event.avsc").read_text())
    body = next(f for f in agent["fields"] if f["name"] == "body")
    llm = next(b for b in body["type"] if b["name"] == "LlmCall")
    llm["fields"] = [f for f in llm["fields"] if f["name"] not in LLM_FIELDS]
    rollup = json.loads((SCHEMAS_DIR / "cost_rollup.avsc").read_text())
    rollup["fields"] = [f for f in rollup["fields"] if f["name"] not in ROLLUP_FIELDS]
    return {EVENT: agent, ROLLUP: rollup}


@pytest.fixture
def codecs(tmp_path: Path) -> tuple[AvroCodec, Wire]:
    registry = FileSchemaRegistry(tmp_path / "registry.json")
    return AvroCodec(registry, copy.deepcopy(before_cache())), Wire(AvroCodec(registry))


def hit() -> AgentEvent:
    original = event("llm_call")
    assert isinstance(original.body, LlmCall)
    return original.model_copy(update={"body": original.body.model_copy(update={
        "cache_key": "9f2c", "cache_hit": True, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
        "saved_input_tokens": 812, "saved_output_tokens": 96, "saved_usd": 0.0021})})


def test_the_schema_files_carry_every_new_field_with_a_default() -> None:
    new = json.loads((SCHEMAS_DIR / "agent_event.avsc").read_text())
    llm = next(b for b in next(f for f in new["fields"] if f["name"] == "body")["type"] if b["name"] == "LlmCall")
    rollup = json.loads((SCHEMAS_DIR / "cost_rollup.avsc").read_text())
    added = [f for f in llm["fields"] if f["name"] in LLM_FIELDS] + \
        [f for f in rollup["fields"] if f["name"] in ROLLUP_FIELDS]
    assert len(added) == len(LLM_FIELDS) + len(ROLLUP_FIELDS)
    assert all("default" in f for f in added)


def test_a_new_reader_reads_an_old_sdks_llm_call_with_no_cache(codecs: tuple[AvroCodec, Wire]) -> None:
    old, new = codecs
    original = event("llm_call")
    branch, fields = original.to_avro()["body"]
    written = {**original.to_avro(), "body": (branch, {k: v for k, v in fields.items() if k not in LLM_FIELDS})}

    decoded = new.decode(old.encode(EVENT, written), EVENT)

    assert decoded == original
    assert isinstance(decoded, AgentEvent) and isinstance(decoded.body, LlmCall)
    assert (decoded.body.cache_key, decoded.body.cache_hit, decoded.body.saved_usd) == (None, False, None)


def test_an_old_reader_drops_a_cache_hits_fields_and_still_validates(codecs: tuple[AvroCodec, Wire]) -> None:
    old, new = codecs
    cached = hit()

    _, record = old.decode(new.encode(cached), EVENT)

    assert not set(LLM_FIELDS) & set(record["body"][1])
    back = validate(AgentEvent, record)
    assert isinstance(back.body, LlmCall) and back.body.input_tokens == 0  # a zero-token call to it, as before


def test_cost_rollups_read_both_ways(codecs: tuple[AvroCodec, Wire]) -> None:
    old, new = codecs
    rollup = next(r for r in every_record() if isinstance(r, CostRollup))
    with_savings = rollup.model_copy(update={"cache_hits": 3, "saved_tokens": 2700, "saved_usd": 0.012})

    _, record = old.decode(new.encode(with_savings), ROLLUP)
    assert not set(ROLLUP_FIELDS) & set(record)
    assert validate(CostRollup, record) == rollup

    written = {k: v for k, v in rollup.model_dump().items() if k not in ROLLUP_FIELDS}
    decoded = new.decode(old.encode(ROLLUP, written), ROLLUP)
    assert decoded == rollup
    assert isinstance(decoded, CostRollup) and (decoded.cache_hits, decoded.saved_usd) == (0, 0.0)


def test_a_hit_without_its_key_or_savings_without_a_hit_are_refused() -> None:
    from warden.core.errors import ValidationError

    base = {"model": "m", "provider": "p", "input_tokens": 0, "output_tokens": 0, "latency_ms": 1.0}
    with pytest.raises(ValidationError, match="cache_key"):
        validate(LlmCall, {**base, "cache_hit": True})
    with pytest.raises(ValidationError, match="saved_"):
        validate(LlmCall, {**base, "saved_input_tokens": 5})
