"""Console output shared by the commands: errors go to stderr with a non-zero exit."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    # One line whatever the terminal's width, and the message as it is (a "[...]" in it is not markup).
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def table(columns: list[str], rows: list[list[Any]] | list[tuple[Any, ...]], title: str | None = None) -> Table:
    out = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("∅" if v is None else str(v) for v in row))
    return out


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
