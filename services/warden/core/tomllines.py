"""Where a key of a TOML file is written, so a config error can name its line.

tomllib reports lines only for syntax errors and gives no positions for the values it returns, and
no well-kept TOML library on this machine does either (tomlkit keeps layout, not line numbers); a
line scan of table headers and `key =` lines is enough to point an operator at the right line.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")
_PART = re.compile(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)")

Path = tuple[str | int, ...]


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m.group(3)
                 for m in _PART.finditer(dotted))


class TomlLines:
    """Maps a key path (("rules", 2, "when", "amount_usd"): the third [[rules]]) to its 1-based line."""

    def __init__(self, text: str) -> None:
        self.lines: dict[Path, int] = {}
        counts: dict[tuple[str, ...], int] = {}
        table: Path = ()
        in_string: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string is not None:  # inside a multi-line string: nothing here is a key
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            header = _HEADER.match(line)
            if header:
                names = _parts(header.group(2))
                if header.group(1) == "[[":
                    index = counts.get(names, 0)
                    counts[names] = index + 1
                    table = (*self._resolve(names[:-1]), names[-1], index)
                else:
                    table = self._resolve(names)
                self.lines.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key:
                self.lines.setdefault((*table, *_parts(key.group(1))), number)
                rest = line[key.end():]
                for quote in ('"""', "'''"):
                    if rest.count(quote) % 2 == 1:
                        in_string = quote

    def _resolve(self, names: tuple[str, ...]) -> Path:
        """A header inside an array of tables ([rules.when] after [[rules]]) belongs to its last element."""
        path: Path = ()
        for name in names:
            path = (*path, name)
            last = max((p[-1] for p in self.lines if len(p) == len(path) + 1 and p[:-1] == path
                        and isinstance(p[-1], int)), default=None)
            if last is not None:
                path = (*path, last)
        return path

    def line(self, path: Path) -> int | None:
        """The line of the key, else of the nearest enclosing key or table that is written."""
        while path:
            found = self.lines.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return None
