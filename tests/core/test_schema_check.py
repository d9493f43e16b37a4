"""The compiled "valid" in front of jsonschema (warden.core.schema_check): it may only ever agree with it.

The tool proxy guards actions with these checks, so the fast path must fail closed: where jsonschema-rs
calls a value valid, jsonschema must too; everything else is jsonschema's own answer.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from warden.core.schema_check import Schema, check, fast_eligible
from warden.core.schema_check import compile_schema as compile_reference
from warden.policy.schema_fast import compiled
from warden.tool_proxy.inventory import DEFAULT_INVENTORY


def shipped_schemas() -> list[tuple[str, dict[str, Any]]]:
    data = yaml.safe_load(DEFAULT_INVENTORY.read_text())
    return [(f"{tool}.{action}.{part}", body[part]) for tool, spec in data["tools"].items()
            for action, body in spec["actions"].items() for part in ("input", "output")]


SHIPPED = shipped_schemas()
# Values where the two engines are known to read a rule differently, and the usual edges.
TRICKY: list[Any] = [
    "", "a", "a\n", "abc\n", "a" * 64, "a" * 65, "a" * 255, "\u0661\u0662", "\u2028", "\ufeff", "\ud800",
    "ada@example.com", "a@b", "a@", "@", "x@y.z\n", "ada@example.com\n", "free", "pro", "enterprise", "Pro",
    0, -1, 1, 1.0, 1.5, -0.0001, 0.0001, 10**16, 2**70, -(2**70), 9007199254740993, True, False, None, [], {},
    [1], ["a"], {"a": 1},
]


def compile_schema(schema: dict[str, Any], where: str) -> Schema:
    """As the server compiles them (the tool proxy's inventory, the policy bundle's params check)."""
    return compile_reference(schema, where, compiled)


def reference(schema: Schema, value: Any) -> bool:
    return bool(schema.full.is_valid(value))


def test_every_shipped_schema_takes_the_fast_path() -> None:
    """Else the proxy pays jsonschema's 10-30 µs per check again without anyone noticing."""
    for where, body in SHIPPED:
        assert fast_eligible(body), where
        assert compile_schema(body, where).fast is not None, where


@pytest.mark.parametrize("schema", [
    {"type": "object", "patternProperties": {"^a": {"type": "string"}}},
    {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    {"type": "number", "multipleOf": 0.01},
    {"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"},
    {"$id": "https://example.com/s", "type": "string"},
    {"$ref": "https://example.com/other.json"},
    {"type": "string", "format": "date-time"},
    {"type": "string", "pattern": r"^\S+$"},
    {"type": "string", "pattern": r"^[^\d]+$"},
    {"type": "string", "pattern": r"^\w+$"},
    {"type": "object", "properties": {"a": {"type": "string", "pattern": r"\bx"}}},
    {"type": "object", "additionalProperties": {"not": {"type": "null"}}},
    {"type": "array", "items": {"uniqueItems": True}},
])
def test_a_schema_with_a_rule_the_engines_may_read_differently_is_checked_by_jsonschema_alone(
        schema: dict[str, Any]) -> None:
    assert not fast_eligible(schema)
    assert compile_schema(schema, "test").fast is None


def test_escaped_punctuation_in_a_pattern_keeps_the_fast_path() -> None:
    assert fast_eligible({"type": "string", "pattern": r"^[a-z]+\.[a-z]+\\\-$"})


def test_the_excluded_classes_do_differ_between_the_engines() -> None:
    """Why \\S and \\d stay with the reference: on U+FEFF and Arabic-Indic digits the two disagree."""
    import jsonschema_rs

    for pattern, value in ((r"^\S+$", "\ufeff"), (r"^[^\d]+$", "\u0661")):
        rs = jsonschema_rs.Draft202012Validator({"type": "string", "pattern": pattern})
        schema = compile_schema({"type": "string", "pattern": pattern}, "test")
        assert rs.is_valid(value) != reference(schema, value)
        assert schema.is_valid(value) == reference(schema, value)


@pytest.mark.parametrize(("where", "body"), SHIPPED, ids=[w for w, _ in SHIPPED])
def test_the_fast_path_gives_jsonschemas_answer_on_the_tricky_values(where: str, body: dict[str, Any]) -> None:
    schema = compile_schema(body, where)
    props = sorted(body.get("properties", {}))
    for value in TRICKY:
        assert schema.is_valid(value) == reference(schema, value), (where, value)
        for prop in props:  # each field in turn, the others absent or set to the same value
            for candidate in ({prop: value}, dict.fromkeys(props, value)):
                assert schema.is_valid(candidate) == reference(schema, candidate), (where, candidate)


def test_without_a_fast_compiler_the_reference_alone_checks() -> None:
    """The light SDK's way (it ships no jsonschema-rs): same answers, same errors."""
    body = dict(SHIPPED)["crm.lookup.input"]
    schema = compile_reference(body, "t")
    assert schema.fast is None
    assert schema.is_valid({"customer_id": "c1"}) and not schema.is_valid({"customer_id": "c 1"})


def test_the_server_compiles_the_fast_path_into_the_proxy_and_the_bundle() -> None:
    from warden.core.shipped import POLICIES
    from warden.policy.bundle import BundleWatcher
    from warden.tool_proxy.inventory import load_inventory

    spec = load_inventory(DEFAULT_INVENTORY).action("crm", "lookup")
    assert spec is not None and spec.input_validator.fast is not None and spec.output_validator.fast is not None
    params = BundleWatcher(POLICIES).bundle.tool_schemas.input("crm", "lookup")
    assert params is not None and params.fast is not None


def test_a_value_the_fast_engine_cannot_take_goes_to_the_reference() -> None:
    schema = compile_schema({"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}}, "t")
    assert schema.fast is not None
    for value in ({"a": "\ud800"}, {1: "x"}):
        assert schema.is_valid(value) == reference(schema, value)


def test_where_only_jsonschema_calls_a_value_valid_it_is_valid_and_errors_are_jsonschemas() -> None:
    """jsonschema-rs is the stricter reader of format email and `$`; the reference's answer stands."""
    schema = compile_schema({"type": "object", "properties": {"e": {"type": "string", "format": "email"},
                                                              "c": {"type": "string", "pattern": "^[a-z]+$"}}}, "t")
    assert schema.fast is not None and not schema.fast.is_valid({"e": "a@", "c": "abc\n"})
    assert check(schema, {"e": "a@", "c": "abc\n"}, "input") == []
    [error] = check(schema, {"e": "nope", "c": "abc"}, "input")
    assert (error.field, error.rule) == ("input.e", "email")


def json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                       st.text(max_size=80), st.sampled_from([v for v in TRICKY if not isinstance(v, (list, dict))]))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=12), inner, max_size=4), max_leaves=12)


@pytest.mark.parametrize(("where", "body"), SHIPPED, ids=[w for w, _ in SHIPPED])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_fast_path_never_calls_valid_what_jsonschema_refuses(where: str, body: dict[str, Any],
                                                                 data: st.DataObject) -> None:
    schema = compile_schema(body, where)
    keys = sorted(body.get("properties", {}))
    value = data.draw(st.one_of(json_values(), st.dictionaries(st.sampled_from(keys) if keys else st.text(),
                                                               json_values(), max_size=len(keys) + 1)))
    assert schema.is_valid(value) == reference(schema, value), value
