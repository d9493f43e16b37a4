"""Cache keys: per tenant, on model + kind + the normalised input."""

from __future__ import annotations

import pytest

from warden.cache.keys import cache_key, normalise
from warden.core.errors import ValidationError


def test_inputs_that_differ_only_in_whitespace_composition_or_key_order_share_a_key() -> None:
    assert cache_key("acme", "m", "answer", "  What is\tthe  refund\npolicy? ") == \
        cache_key("acme", "m", "answer", "What is the refund policy?")
    assert cache_key("acme", "m", "answer", "cafe\u0301") == cache_key("acme", "m", "answer", "caf\u00e9")
    chat = [{"role": "user", "content": "Hi  there"}]
    assert cache_key("acme", "m", "answer", chat) == cache_key("acme", "m", "answer",
                                                               [{"content": "Hi there", "role": "user"}])


def test_case_model_kind_and_tenant_each_change_the_key() -> None:
    base = cache_key("acme", "gpt-4o", "answer", "Refund?")
    assert len({base, cache_key("acme", "gpt-4o", "answer", "refund?"), cache_key("acme", "gpt-4o-mini", "answer",
                                                                                   "Refund?"),
                cache_key("acme", "gpt-4o", "embedding", "Refund?"), cache_key("globex", "gpt-4o", "answer",
                                                                               "Refund?")}) == 5


def test_text_and_the_same_text_as_json_are_different_inputs() -> None:
    assert normalise("[1]") == "[1]" and normalise([1]) == "[1]"
    assert cache_key("acme", "m", "answer", "[1]") == cache_key("acme", "m", "answer", [1])  # one text, on purpose
    assert normalise({"b": 1, "a": [" x  y "]}) == '{"a":["x y"],"b":1}'


@pytest.mark.parametrize("bad", [object(), {"x": float("nan")}, b"bytes"])
def test_input_that_is_not_text_or_json_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        cache_key("acme", "m", "answer", bad)


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="'completion'"):
        cache_key("acme", "m", "completion", "x")
