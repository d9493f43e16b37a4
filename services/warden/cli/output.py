"""Console output shared by the commands: errors go to stderr with a non-zero exit."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.table import Table

PIPED_WIDTH = 240  # columns when output is not a terminal: ids, reasons and table rows are kept whole


class _Console(Console):
    """A terminal gets its own width, and so does COLUMNS when set; a pipe, a file or CI gets PIPED_WIDTH
    (rich would assume 80 there and squeeze every table)."""

    @property
    def size(self) -> ConsoleDimensions:
        found = super().size
        if self.is_terminal or self._width is not None:
            return found
        return ConsoleDimensions(max(found.width, PIPED_WIDTH), found.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console = _Console()
errors = _Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    # One line whatever the terminal's width, and the message as it is (a "[...]" in it is not markup).
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def figure(value: object) -> str:
    """A measured figure for people: four significant digits (0.4713 not 0.47128712871287126), ∅ for none."""
    if value is None:
        return "∅"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(columns: list[str], rows: list[list[Any]] | list[tuple[Any, ...]], title: str | None = None) -> Table:
    out = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("∅" if v is None else str(v) for v in row))
    return out


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: the stack's readiness probes alone printed ~50 lines before "Warden is up".
    if logging.getLevelName(level) >= logging.INFO:
        logging.getLogger("httpx").setLevel(logging.WARNING)
