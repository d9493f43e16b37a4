"""promptfoo test cases (a promptfooconfig.yaml with `tests:`, or a tests file that is a list) to Warden items.

promptfoo's own rules are kept where they decide what a test case is: `defaultTest` is merged into
each test (vars and metadata key by key, its assertions first), and a var whose value is a list of
texts expands into one test case per combination (promptfoo's generateVarCombinations; a list of
anything else is one value), unless `options.disableVarExpansion` is set.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import yaml

from warden.core.errors import ConfigError
from warden.evals.importers.base import (
    ImportResult,
    Refusal,
    Refused,
    accept,
    build,
    expect_from,
    metadata_tags,
    slug,
    warden_block,
)

# Test-case fields that change what promptfoo sends or how it grades text: reported, not imported.
IGNORED_FIELDS = frozenset({"options", "threshold", "provider", "providers", "prompts", "providerOutput"})
MAPPED_FIELDS = frozenset({"description", "vars", "assert", "metadata"})
# The one assertion that says what Warden checks itself on every run: tools that must not be called.
FORBIDDEN_TOOLS = "not-trajectory:tool-used"
# promptfoo counts tool calls (or steps of a type); Warden's max_steps counts every event of the run
# (each llm call, each tool call's request and its completion): mapping one onto the other would
# make the item pass or fail on a different number than the source meant.
STEP_COUNT = "trajectory:step-count"
_LINE = "__line__"


class _LineLoader(yaml.SafeLoader):
    """Records the 1-based line of every mapping, so a refusal can name where the test case is."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    mapping[_LINE] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != _LINE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _load(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # a SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read promptfoo YAML ({exc})") from exc


def _tests_of(path: Path, document: Any) -> tuple[list[Any], dict[str, Any], Path]:
    """(the test cases, defaultTest, the file they are in); `tests: file://x.yaml` is followed once."""
    if isinstance(document, list):
        return document, {}, path
    if not isinstance(document, dict) or "tests" not in document:
        raise ConfigError(f"{path}: expected a promptfoo config with `tests:` or a list of test cases")
    if document.get("scenarios"):
        raise ConfigError(f"{path}: `scenarios` are not imported; write them out as test cases")
    default = document.get("defaultTest") or {}
    if not isinstance(default, dict):
        raise ConfigError(f"{path}: defaultTest {default!r:.60} is not imported; inline it as a mapping")
    tests = document["tests"]
    if isinstance(tests, str):
        target = (path.parent / tests.removeprefix("file://")).resolve()
        if target.suffix not in (".yaml", ".yml", ".json") or any(c in tests for c in "*?["):
            raise ConfigError(f"{path}: tests from {tests!r} are not imported (only one YAML/JSON file of test cases)")
        inner = _load(target)
        if not isinstance(inner, list):
            raise ConfigError(f"{target}: expected a list of test cases, got {type(inner).__name__}")
        return inner, default, target
    if not isinstance(tests, list):
        raise ConfigError(f"{path}: `tests` must be a list of test cases, got {type(tests).__name__}")
    return tests, default, path


def _expand(variables: dict[str, Any]) -> list[dict[str, Any]]:
    keys = list(variables)
    choices = [v if isinstance(v, list) and v and isinstance(v[0], str) else [v] for v in variables.values()]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*choices)]


def _assertions(asserts: list[Any], ignore: frozenset[str], where: str, result: ImportResult) -> dict[str, Any]:
    """The expect fields promptfoo's assertions map to; anything that grades text refuses the test."""
    expect: dict[str, Any] = {}
    for n, assertion in enumerate(asserts, 1):
        if not isinstance(assertion, dict) or "type" not in assertion:
            raise Refused(f"assert #{n} is not a mapping with a type")
        kind, value = assertion["type"], assertion.get("value")
        if kind == FORBIDDEN_TOOLS:
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
                raise Refused(f"assert #{n} ({kind}) needs a tool name or a list of names, got {value!r:.60}")
            if any(c in x for x in names for c in "*?"):
                raise Refused(f"assert #{n} ({kind}) uses a wildcard; Warden's forbidden_tools are exact "
                              "tool.action names")
            expect["forbidden_tools"] = sorted({*expect.get("forbidden_tools", []), *names})
        elif kind == STEP_COUNT and kind not in ignore:
            raise Refused(f"assert #{n} ({kind}) counts tool calls; Warden's max_steps counts every event of the "
                          "run (llm calls, each call's request and completion): set metadata.warden.expect."
                          f"max_steps, or pass --ignore-assert {kind}")
        elif kind in ignore:
            result.warnings.append(Refusal(where, f"assert #{n} ({kind}) dropped (--ignore-assert)"))
        else:
            raise Refused(f"assert #{n} ({kind}) grades the output, which Warden does not score (it scores the "
                          "world's diff): state it in metadata.warden.expect, or pass --ignore-assert "
                          f"{kind} to drop it")
    return expect


def _one(test: Any, default: dict[str, Any], index: int, workflow: str, ignore: frozenset[str],
         file_stem: str, result: ImportResult) -> list[tuple[str, dict[str, Any]]]:
    line = test.get(_LINE) if isinstance(test, dict) else None
    where = f"test {index}" + (f" (line {line})" if line else "")
    if not isinstance(test, dict):
        raise Refused(f"a test case must be a mapping, got {type(test).__name__}")
    test = _strip(test)
    unknown = sorted(set(test) - MAPPED_FIELDS - IGNORED_FIELDS)
    if unknown:
        raise Refused(f"unknown test case field(s) {', '.join(unknown)}")
    for key in sorted(set(test) & IGNORED_FIELDS):
        result.warnings.append(Refusal(where, f"{key} is not imported (it shapes promptfoo's prompt or grading)"))
    default = _strip(default)
    for owner, doc in (("vars", test), ("defaultTest.vars", default)):
        if not isinstance(doc.get("vars") or {}, dict):
            raise Refused(f"{owner} must be a mapping, got {type(doc.get('vars')).__name__}")
    variables = {**(default.get("vars") or {}), **(test.get("vars") or {})}
    metadata = {**(default.get("metadata") or {}), **(test.get("metadata") or {})}
    asserts = [*(default.get("assert") or []), *(test.get("assert") or [])]
    for key, value in variables.items():
        if isinstance(value, str) and value.startswith("file://"):
            raise Refused(f"vars.{key} is a file reference ({value!r:.60}); inline its content")
    block, rest = warden_block(metadata, where)
    expect = {**_assertions(asserts, ignore, where, result), **expect_from(block)}
    tags = ["source:promptfoo", *metadata_tags(rest, where, result)]
    base_id = block.get("id") or (slug(test["description"]) if test.get("description") else f"{file_stem}-{index}")
    expand = not ((test.get("options") or {}).get("disableVarExpansion")
                  or (default.get("options") or {}).get("disableVarExpansion"))
    combos = _expand(variables) if expand else [variables]
    out = []
    for k, combo in enumerate(combos, 1):
        item_id = str(base_id) if len(combos) == 1 else f"{base_id}-{k}"
        out.append((where if len(combos) == 1 else f"{where} combination {k}",
                    build(item_id, workflow, block, combo, dict(expect), tags)))
    return out


def import_promptfoo(path: Path, workflow: str, ignore_asserts: frozenset[str] = frozenset()) -> ImportResult:
    tests, default, source = _tests_of(path, _load(path))
    result = ImportResult()
    seen: set[str] = set()
    for index, test in enumerate(tests, 1):
        try:
            mapped = _one(test, default, index, workflow, ignore_asserts, source.stem, result)
        except Refused as exc:
            line = test.get(_LINE) if isinstance(test, dict) else None
            result.refusals.append(Refusal(f"test {index}" + (f" (line {line})" if line else ""), str(exc)))
            continue
        for where, item in mapped:
            accept(result, where, item, seen)
    return result
