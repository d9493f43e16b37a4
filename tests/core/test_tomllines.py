"""Lines of keys in a TOML file: headers, arrays of tables, dotted keys, sub-tables of an array element."""

from __future__ import annotations

from warden.core.tomllines import TomlLines

TEXT = '''top = 1
note = """
fake = 2
"""
[routes.cheap]
model = "m"   # a comment

[[rules]]
id = "a"
when.amount_usd = { lt = 5 }

[[rules]]
id = "b"
[rules.when]
"quoted key" = 1
'''


def test_each_key_has_its_line() -> None:
    lines = TomlLines(TEXT)
    assert lines.line(("top",)) == 1
    assert lines.line(("fake",)) is None  # inside a multi-line string
    assert lines.line(("routes", "cheap", "model")) == 6
    assert lines.line(("rules", 0, "when", "amount_usd")) == 10
    assert lines.line(("rules", 1, "id")) == 13
    assert lines.line(("rules", 1, "when", "quoted key")) == 15


def test_a_missing_key_falls_back_to_its_table() -> None:
    lines = TomlLines(TEXT)
    assert lines.line(("rules", 1, "route")) == 12
    assert lines.line(("routes", "cheap", "provider")) == 6 - 1
    assert lines.line(("nothing",)) is None
