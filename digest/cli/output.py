"""How commands print: tables for people, tab-separated lines for pipes, JSON
for scripts.

- On a terminal, a table shows every value in full: a long slug or address
  wraps inside its cell, never ends in "…".
- When stdout is not a terminal (a pipe, a file, cron), the same rows are
  plain tab-separated lines under a header line, one record per line; tabs and
  line breaks inside values become spaces.
- `--json` prints the command's data as one JSON document.

Rich is imported only when a table is drawn on a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TextIO


class Console:
    """The small part of rich's Console the commands use, without importing
    rich: `print(text, markup=False)` writes plain text; markup like
    "[bold]…[/bold]" is styled on a terminal and stripped elsewhere."""

    def __init__(self, stderr: bool = False):
        self.stderr = stderr

    @property
    def file(self) -> TextIO:
        # Looked up on every call: the test runner swaps sys.stdout/sys.stderr.
        return sys.stderr if self.stderr else sys.stdout

    def is_terminal(self) -> bool:
        return self.file.isatty()

    def print(self, text: Any = "", *, markup: bool = True, **_ignored: Any) -> None:
        if not isinstance(text, str):
            self._rich().print(text)
            return
        if markup and "[" in text:
            if self.is_terminal():
                self._rich().print(text, soft_wrap=True)
                return
            from rich.text import Text

            text = Text.from_markup(text).plain
        self.file.write(f"{text}\n")
        self.file.flush()

    def _rich(self):
        from rich.console import Console as RichConsole

        return RichConsole(file=self.file, highlight=False, soft_wrap=True)


console = Console()
err_console = Console(stderr=True)


def cell(value: Any) -> str:
    """A value as table text: None is empty, times are UTC minutes, lists joined."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    whole: Sequence[int] = (0,),
) -> None:
    """Rows as a table on a terminal, else as tab-separated lines (preceded by
    "# title" when titled, and a header line). On a terminal the columns in
    `whole` (identifiers: slugs, addresses) are never wrapped; the others wrap
    within their cells. Nothing is ever cut."""
    texts = [[cell(v) for v in row] for row in rows]
    if not console.is_terminal():
        if title:
            console.print(f"# {title}", markup=False)
        for line in [list(columns), *texts]:
            console.print("\t".join(_one_line(v) for v in line), markup=False)
        return
    from rich.table import Table

    table = Table(title=title, title_justify="left", expand=False)
    for n, column in enumerate(columns):
        if n in whole:
            widest = max((len(row[n]) for row in texts), default=0)
            table.add_column(column, no_wrap=True, min_width=max(widest, len(column)))
        else:
            # fold: a value too long for its cell wraps inside it, never "…".
            table.add_column(column, overflow="fold")
    for row in texts:
        table.add_row(*row)
    console.print(table)


def _one_line(value: str) -> str:
    return " ".join(value.replace("\t", " ").splitlines())


def print_json(data: Any) -> None:
    console.print(
        json.dumps(data, indent=2, default=_json_default, ensure_ascii=False), markup=False
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
